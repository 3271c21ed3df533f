//! What became of one attempt at a confirmation mail, and how it is recorded: `sent` with
//! `confirmation_sent` (Message-ID and SHA-256 of the message), tried again later, or failed
//! for good with `confirmation_failed`; obsolete mail is dropped without an event.

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use crate::config::MailSettings;
use crate::db::complaints;
use crate::db::ledger::{self, NewEvent};
use crate::db::outbox::{self, OutboxRow};
use crate::db::{DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::jobs::{next_attempt, Retries};

#[derive(Debug, Clone)]
pub enum Outcome {
    Sent {
        message_id: String,
        sha256: String,
    },
    /// `reached`: the relay answered. A relay that could not be reached is not this mail's
    /// fault, so the mail stays due (the queue waits for the relay as a whole, `mail::relay`).
    Failed {
        error: String,
        permanent: bool,
        reached: bool,
    },
    /// Confirmed, refused, expired, erased or suppressed before the mail went out.
    Obsolete,
}

/// Records the outcomes of several attempts in the open transaction: first each mail's
/// own rows, then the events, sender by sender in the order of their ids (so that two
/// batches at two instances never wait for each other's chain heads in a circle), each
/// sender's under one lock of its chain head. Returns each outcome's label for
/// `mail_attempts_total`, in order.
pub fn record_outcomes(
    conn: &mut DbConn,
    outcomes: &[(OutboxRow, Outcome)],
    mail: &MailSettings,
    now: NaiveDateTime,
) -> Result<Vec<&'static str>, StoreError> {
    let mut labels = Vec::with_capacity(outcomes.len());
    let mut events = Vec::new();
    for (job, outcome) in outcomes {
        let (label, event) = record_rows(conn, job, outcome, retries(job, mail), now)?;
        labels.push(label);
        events.extend(event.map(|(kind, data)| (job, kind, data)));
    }
    // Stable: a sender's events keep the order their attempts ended in.
    events.sort_by(|a, b| a.0.sender_id.cmp(&b.0.sender_id));
    for same_sender in events.chunk_by(|a, b| a.0.sender_id == b.0.sender_id) {
        let Some((first, _, _)) = same_sender.first() else {
            continue;
        };
        let new_events = same_sender
            .iter()
            .map(|(job, kind, data)| NewEvent {
                consent_id: job.consent_id.as_ref(),
                ..NewEvent::new(*kind, data.clone())
            })
            .collect();
        ledger::record_events(conn, &first.sender_id, new_events, now)?;
    }
    Ok(labels)
}

/// How long this mail is tried: for the configured time since it was queued.
fn retries(job: &OutboxRow, mail: &MailSettings) -> Retries {
    Retries {
        max_attempts: mail.max_attempts,
        until: Some(job.created_at + mail.retry_for),
        base: mail.retry_base,
        max: mail.retry_max,
    }
}

/// The label an outcome is counted under, and the event it adds to the chain, if any.
type Recorded = (&'static str, Option<(EventKind, Value)>);

/// The outcome's rows; its label and the event it adds to the chain, if any.
fn record_rows(
    conn: &mut DbConn,
    job: &OutboxRow,
    outcome: &Outcome,
    retries: Retries,
    now: NaiveDateTime,
) -> Result<Recorded, StoreError> {
    let attempt = job.attempts + 1;
    let (error, permanent, reached) = match outcome {
        Outcome::Sent { message_id, sha256 } => {
            outbox::mark_sent(conn, &job.id, now)?;
            if let Some(consent_id) = &job.consent_id {
                complaints::insert_sent_mail(conn, message_id, &job.sender_id, consent_id, now)?;
            }
            let data = json!({
                "message_id": message_id, "message_sha256": sha256, "attempt": attempt,
            });
            return Ok(("sent", Some((EventKind::ConfirmationSent, data))));
        }
        Outcome::Obsolete => {
            let error = "obsolete: consent no longer pending or address suppressed";
            outbox::mark_attempt_failed(conn, &job.id, error, None)?;
            return Ok(("obsolete", None));
        }
        Outcome::Failed {
            error,
            permanent,
            reached,
        } => (error, *permanent, *reached),
    };
    // Unreached: due again at once; the relay's probe decides when the queue moves.
    let retries = Retries {
        base: if reached {
            retries.base
        } else {
            std::time::Duration::ZERO
        },
        ..retries
    };
    let retry_at = next_attempt(now, attempt, permanent, retries);
    outbox::mark_attempt_failed(conn, &job.id, error, retry_at)?;
    // Without the error text: it may name the recipient.
    let Some(at) = retry_at else {
        tracing::warn!(job = %job.id, attempts = attempt, permanent, "confirmation mail given up");
        let event = job.consent_id.is_some().then(|| {
            let data = json!({ "attempts": attempt, "permanent": permanent });
            (EventKind::ConfirmationFailed, data)
        });
        return Ok(("given_up", event));
    };
    tracing::info!(job = %job.id, attempts = attempt, reached, retry_at = %at, "confirmation mail attempt failed; will retry");
    Ok(("failed", None))
}
