//! Background jobs on the outbox: what a job does (`outbox.kind`) and where it stands
//! (`outbox.status`), as the text the migrations' `CHECK` constraints allow.

use super::text_enum::text_enum;

text_enum! {
    /// Which worker delivers an outbox job.
    pub enum OutboxKind ("outbox kind") {
        /// A confirmation mail, delivered by the mail worker.
        Mail => "mail",
        /// A webhook delivery, made by the webhook worker.
        Webhook => "webhook",
    }
}

text_enum! {
    /// Where an outbox job stands.
    pub enum OutboxStatus ("outbox status") {
        /// Waiting for its next attempt (claimed jobs stay queued under a lease).
        Queued => "queued",
        /// Delivered.
        Sent => "sent",
        /// Given up on after its last attempt.
        Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_status_round_trips_through_its_text() {
        for kind in OutboxKind::ALL {
            assert_eq!(OutboxKind::parse(kind.as_str()), Ok(*kind));
        }
        for status in OutboxStatus::ALL {
            assert_eq!(status.as_str().parse::<OutboxStatus>(), Ok(*status));
        }
        assert!(OutboxKind::parse("sms").is_err());
        assert!(OutboxStatus::parse("dead").is_err());
    }
}
