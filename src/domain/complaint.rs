//! The closed sets of a complaint: what kind of feedback it is, where it came from, what mail
//! it is about and what Consentry did with it. Stored and answered as this text.

use super::text_enum::text_enum;

text_enum! {
    /// RFC 5965 `Feedback-Type` (the registered values), as the report names it.
    pub enum FeedbackType ("feedback type") {
        /// Unsolicited mail ("spam").
        Abuse => "abuse",
        /// Phishing or other fraud.
        Fraud => "fraud",
        /// The mail carried a virus.
        Virus => "virus",
        /// The recipient says the mail is not spam after all: recorded, changes nothing.
        NotSpam => "not-spam",
        /// An authentication failure report (DKIM/SPF), not about consent.
        AuthFailure => "auth-failure",
        /// Any other kind of feedback.
        Other => "other",
    }
}

impl FeedbackType {
    /// Whether this feedback says the recipient did not want the mail (it opts the address
    /// out and counts as a complaint). `not-spam` and authentication reports do not.
    pub const fn is_complaint(self) -> bool {
        !matches!(self, FeedbackType::NotSpam | FeedbackType::AuthFailure)
    }

    /// The feedback type an ARF report names (mail-auth's parse of RFC 5965).
    pub fn from_arf(kind: mail_auth::report::FeedbackType) -> Self {
        use mail_auth::report::FeedbackType as Arf;
        match kind {
            Arf::Abuse => FeedbackType::Abuse,
            Arf::Fraud => FeedbackType::Fraud,
            Arf::Virus => FeedbackType::Virus,
            Arf::NotSpam => FeedbackType::NotSpam,
            Arf::AuthFailure => FeedbackType::AuthFailure,
            Arf::Other => FeedbackType::Other,
        }
    }
}

text_enum! {
    /// Who passed the complaint on.
    pub enum ComplaintSource ("complaint source") {
        /// A mailbox provider's feedback loop (an ARF report).
        FeedbackLoop => "feedback_loop",
        /// The recipient, to the sender (a forwarded mail, a reply).
        Recipient => "recipient",
        /// A complaint desk (e.g. 迷惑メール相談センター).
        ComplaintDesk => "complaint_desk",
        /// An ISP's abuse desk.
        Isp => "isp",
        /// The recipient, on Consentry's own `/report` page.
        RecipientPage => "recipient_page",
        /// Anyone else.
        Other => "other",
    }
}

text_enum! {
    /// Which mail the complaint is about.
    pub enum MailKind ("mail kind") {
        /// A mail of the sender's own, carrying the unsubscribe link a check handed out.
        Campaign => "campaign",
        /// Consentry's confirmation mail: the prankster signal.
        ConfirmationMail => "confirmation_mail",
        /// Nothing in the report names a consent of this sender.
        Unknown => "unknown",
    }
}

text_enum! {
    /// What a complaint did.
    pub enum ComplaintAction ("complaint action") {
        /// The address was unsubscribed from the list now.
        Unsubscribed => "unsubscribed",
        /// The address was no longer subscribed; the complaint is recorded.
        AlreadyUnsubscribed => "already_unsubscribed",
        /// Confirmation mail to the address is now suppressed for every sender.
        Suppressed => "suppressed",
        /// Recorded, nothing changed (`not-spam`, authentication reports).
        Recorded => "recorded",
        /// The report names no consent of this sender; nothing recorded on a chain.
        NotFound => "not_found",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_feedback_that_says_unwanted_counts_as_a_complaint() {
        assert!(FeedbackType::Abuse.is_complaint());
        assert!(FeedbackType::Fraud.is_complaint());
        assert!(FeedbackType::Other.is_complaint());
        assert!(!FeedbackType::NotSpam.is_complaint());
        assert!(!FeedbackType::AuthFailure.is_complaint());
        assert_eq!(FeedbackType::parse("not-spam"), Ok(FeedbackType::NotSpam));
    }
}
