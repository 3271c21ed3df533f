//! What became of one attempt at a confirmation mail, and how it is recorded: `sent` with
//! `confirmation_sent` (Message-ID and SHA-256 of the message), tried again later, or failed
//! for good with `confirmation_failed`; obsolete mail is dropped without an event.

use chrono::NaiveDateTime;
use serde_json::json;

use crate::clock;
use crate::config::MailSettings;
use crate::db::complaints;
use crate::db::ledger::NewEvent;
use crate::db::outbox::{self, OutboxRow};
use crate::db::{write_transaction, Db, DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::jobs::{next_attempt, Retries};

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

/// Records the attempt in one transaction and counts it in `attempts` once it committed.
pub async fn settle(
    db: &Db,
    mail: &MailSettings,
    attempts: &prometheus::IntCounterVec,
    job: OutboxRow,
    outcome: Outcome,
) {
    let retries = Retries {
        max_attempts: mail.max_attempts,
        until: Some(job.created_at + mail.retry_for),
        base: mail.retry_base,
        max: mail.retry_max,
    };
    let job_id = job.id.clone();
    let result = db
        .write(move |conn| {
            let now = clock::now();
            write_transaction(conn, |conn| {
                record_outcome(conn, &job, outcome, retries, now)
            })
        })
        .await;
    match result {
        Ok(label) => attempts.with_label_values(&[label]).inc(),
        Err(error) => tracing::error!(%error, job = %job_id, "cannot record mail outcome"),
    }
}

/// The outcome's rows and event; the `mail_attempts_total` label it counts under.
fn record_outcome(
    conn: &mut DbConn,
    job: &OutboxRow,
    outcome: Outcome,
    retries: Retries,
    now: NaiveDateTime,
) -> Result<&'static str, StoreError> {
    let attempt = job.attempts + 1;
    let (error, permanent, reached) = match outcome {
        Outcome::Sent { message_id, sha256 } => {
            outbox::mark_sent(conn, &job.id, now)?;
            if let Some(consent_id) = &job.consent_id {
                complaints::insert_sent_mail(conn, &message_id, &job.sender_id, consent_id, now)?;
            }
            let data = json!({
                "message_id": message_id, "message_sha256": sha256, "attempt": attempt,
            });
            record(conn, job, EventKind::ConfirmationSent, data, now)?;
            return Ok("sent");
        }
        Outcome::Obsolete => {
            let error = "obsolete: consent no longer pending or address suppressed";
            outbox::mark_attempt_failed(conn, &job.id, error, None)?;
            return Ok("obsolete");
        }
        Outcome::Failed {
            error,
            permanent,
            reached,
        } => (error, permanent, reached),
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
    outbox::mark_attempt_failed(conn, &job.id, &error, retry_at)?;
    // Without the error text: it may name the recipient.
    let Some(at) = retry_at else {
        tracing::warn!(job = %job.id, attempts = attempt, permanent, "confirmation mail given up");
        if job.consent_id.is_some() {
            let data = json!({ "attempts": attempt, "permanent": permanent });
            record(conn, job, EventKind::ConfirmationFailed, data, now)?;
        }
        return Ok("given_up");
    };
    tracing::info!(job = %job.id, attempts = attempt, reached, retry_at = %at, "confirmation mail attempt failed; will retry");
    Ok("failed")
}

fn record(
    conn: &mut DbConn,
    job: &OutboxRow,
    kind: EventKind,
    data: serde_json::Value,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let event = NewEvent {
        consent_id: job.consent_id.as_ref(),
        ..NewEvent::new(kind, data)
    };
    crate::db::ledger::record_event(conn, &job.sender_id, event, now).map(|_| ())
}
