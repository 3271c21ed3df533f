//! The states of a subscription and of a consent, stored in their `status` columns as the
//! text the migrations' `CHECK (status IN (...))` allows.

use super::text_enum::text_enum;

text_enum! {
    /// The state of an address on a list (`subscriptions.status`), copied from its current
    /// consent so a compliance check reads one row.
    pub enum SubscriptionStatus ("subscription status") {
        /// Signed up, confirmation not yet given.
        Pending => "pending",
        /// Double opt-in completed: mail may be sent.
        Confirmed => "confirmed",
        /// Opted out after signing up or confirming.
        Unsubscribed => "unsubscribed",
        /// The confirmation window passed without a confirmation.
        Expired => "expired",
        /// The subject said "this was not me" on the confirmation page.
        Refused => "refused",
    }
}

text_enum! {
    /// The state of one double opt-in attempt (`consents.status`).
    pub enum ConsentStatus ("consent status") {
        /// Requested, confirmation not yet given.
        Pending => "pending",
        /// Confirmed by the subject.
        Confirmed => "confirmed",
        /// Ended by an opt-out (or an erasure of a live consent).
        Unsubscribed => "unsubscribed",
        /// The confirmation window passed without a confirmation.
        Expired => "expired",
        /// The subject refused the signup.
        Refused => "refused",
    }
}

impl ConsentStatus {
    /// Still live: a confirmation or an opt-out can act on it.
    pub const fn is_live(self) -> bool {
        matches!(self, ConsentStatus::Pending | ConsentStatus::Confirmed)
    }

    /// The subscription state a subscription takes when this consent becomes its current
    /// one or ends it (the two sets are the same text).
    pub const fn subscription_status(self) -> SubscriptionStatus {
        match self {
            ConsentStatus::Pending => SubscriptionStatus::Pending,
            ConsentStatus::Confirmed => SubscriptionStatus::Confirmed,
            ConsentStatus::Unsubscribed => SubscriptionStatus::Unsubscribed,
            ConsentStatus::Expired => SubscriptionStatus::Expired,
            ConsentStatus::Refused => SubscriptionStatus::Refused,
        }
    }
}

impl SubscriptionStatus {
    /// Still live: `pending` or `confirmed`.
    pub const fn is_live(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Pending | SubscriptionStatus::Confirmed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_text() {
        for status in SubscriptionStatus::ALL {
            assert_eq!(SubscriptionStatus::parse(status.as_str()), Ok(*status));
            assert_eq!(status.to_string(), status.as_str());
        }
        for status in ConsentStatus::ALL {
            assert_eq!(status.as_str().parse::<ConsentStatus>(), Ok(*status));
            assert_eq!(status.subscription_status().as_str(), status.as_str());
            assert_eq!(status.is_live(), status.subscription_status().is_live());
        }
    }

    #[test]
    fn unknown_or_differently_cased_text_is_an_error() {
        for text in [
            "",
            "Pending",
            "PENDING",
            " pending",
            "suppressed",
            "withdrawn",
        ] {
            let error = ConsentStatus::parse(text).err();
            assert_eq!(error.map(|e| e.text), Some(text.to_owned()));
            assert!(SubscriptionStatus::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn live_means_pending_or_confirmed() {
        let live: Vec<_> = ConsentStatus::ALL.iter().filter(|s| s.is_live()).collect();
        assert_eq!(live, [&ConsentStatus::Pending, &ConsentStatus::Confirmed]);
    }
}
