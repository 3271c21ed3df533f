//! The kinds of ledger event (`events.kind`), the set `docs/ledger.md` lists. The text is
//! covered by each event's hash, so a variant's text never changes.

use super::text_enum::text_enum;

text_enum! {
    /// What a ledger event records.
    pub enum EventKind ("event kind") {
        /// A signup asked for consent (also when the address is suppressed).
        Requested => "requested",
        /// The confirmation mail was handed to the mail server.
        ConfirmationSent => "confirmation_sent",
        /// The confirmation mail could not be delivered and will not be retried.
        ConfirmationFailed => "confirmation_failed",
        /// The subject confirmed.
        Confirmed => "confirmed",
        /// The subject refused the signup ("this was not me").
        Refused => "refused",
        /// The confirmation window passed.
        Expired => "expired",
        /// The subject opted out.
        Unsubscribed => "unsubscribed",
        /// The sender asked for the confirmation mail again.
        ResendRequested => "resend_requested",
        /// A batch compliance check was answered (its receipt).
        Checked => "checked",
        /// An auditor exported the chain.
        Exported => "exported",
        /// The subject's personal data was erased.
        Erased => "erased",
        /// A complaint about a mail (feedback loop, forwarded mail, complaint desk).
        Complained => "complained",
        /// The sender's standing changed (probation, good, watch, restricted).
        StandingChanged => "standing_changed",
    }
}

impl EventKind {
    /// The kinds a sender can receive as webhooks, in the order a webhook's `events` list
    /// is stored (the same set and order as `domain::webhook::EVENT_KINDS`).
    pub const WEBHOOK: &'static [EventKind] = &[
        EventKind::Confirmed,
        EventKind::Refused,
        EventKind::Unsubscribed,
        EventKind::Expired,
        EventKind::ConfirmationFailed,
        EventKind::Erased,
        EventKind::Complained,
        EventKind::StandingChanged,
    ];

    /// True when a sender may subscribe a webhook to this kind.
    pub fn is_webhook_kind(self) -> bool {
        Self::WEBHOOK.contains(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_text() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Ok(*kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert!(EventKind::parse("checkpoint").is_err());
        assert!(EventKind::parse("Confirmed").is_err());
    }

    #[test]
    fn the_kinds_are_those_the_ledger_spec_lists() {
        let spec = include_str!("../../docs/ledger.md");
        let row = spec
            .lines()
            .find(|line| line.starts_with("| `kind` |"))
            .unwrap_or_else(|| panic!("docs/ledger.md has no `kind` row"));
        // The list runs from the type column to the parenthesised note.
        let list = row
            .split_once("| string | ")
            .and_then(|(_, rest)| rest.split_once(" ("))
            .map_or("", |(list, _)| list);
        let listed: Vec<&str> = list.split(", ").map(|k| k.trim_matches('`')).collect();
        let ours: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(listed, ours);
    }

    #[test]
    fn webhook_kinds_are_the_webhook_modules_list() {
        let ours: Vec<&str> = EventKind::WEBHOOK.iter().map(|k| k.as_str()).collect();
        assert_eq!(ours, crate::domain::webhook::EVENT_KINDS);
        assert!(EventKind::Confirmed.is_webhook_kind());
        assert!(!EventKind::Requested.is_webhook_kind());
    }
}
