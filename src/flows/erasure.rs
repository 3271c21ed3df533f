//! Removing personal data while keeping the evidence: erasure on the subject's request
//! (`DELETE /v1/subjects`, GDPR Art. 17) and minimisation once a sender's retention period
//! has passed. Both erase the plaintext beside each event (the chain keeps `pii_sha256`),
//! keep the keyed-hash lookups and suppressions, and record an `erased` event per consent.

use chrono::NaiveDateTime;
use serde_json::json;

use super::record_event;
use crate::db::consents::{self, ConsentRow};
use crate::db::ledger::{self, NewEvent};
use crate::db::senders::{self, Sender};
use crate::db::subscriptions;
use crate::db::{
    discard_erased_frames, outbox, suppressions, write_transaction, DbConn, StoreError,
};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::status::ConsentStatus;

/// Why personal data is removed (the `reason` of the `erased` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    SubjectRequest,
    Retention,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::SubjectRequest => "subject_request",
            Reason::Retention => "retention",
        }
    }
}

/// Erases every consent record of the address (by its keyed hash) at this sender: active
/// consents end, plaintext goes, the address stays suppressed for this sender as a keyed
/// hash, and a new signup can start a new double opt-in. Returns how many consent records
/// were erased. Call inside a write transaction.
pub fn erase_subject(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_key: &str,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let mut erased = Vec::new();
    for sub in super::locked_subscriptions_of_address(conn, sender_id, address_key)? {
        for consent in consents::consents_of_subscription(conn, &sub.id)? {
            if let Some(records) = erase_rows(conn, &consent, now)? {
                erased.push((consent, records));
            }
        }
        subscriptions::erase_address(conn, &sub.id, now)?;
    }
    suppressions::suppress(conn, sender_id.as_str(), address_key, suppressions::ERASED)?;
    // The events last: appending locks the chain head, which every flow takes after its
    // other rows, so taking it first here could deadlock with a confirmation on PostgreSQL.
    for (consent, records) in &erased {
        record_erased(
            conn,
            consent,
            address_key,
            Reason::SubjectRequest,
            *records,
            now,
        )?;
    }
    Ok(erased.len())
}

/// Erases one consent's personal data and ends it if it is still active. `None` when its
/// data was erased already (by an earlier request, or another instance just now); otherwise
/// how many personal-data records were erased.
fn erase_rows(
    conn: &mut DbConn,
    consent: &ConsentRow,
    now: NaiveDateTime,
) -> Result<Option<usize>, StoreError> {
    // Claims the consent: a second eraser waits for this row, then finds it done.
    if !consents::mark_minimised(conn, &consent.id, now)? {
        return Ok(None);
    }
    let ids = [consent.id.clone()];
    let records = ledger::erase_pii_of_consents(conn, &consent.sender_id, &ids, now)?;
    outbox::clear_errors_of_consents(conn, &ids)?;
    if consent.status.is_live() {
        consents::set_consent_status(conn, &consent.id, ConsentStatus::Unsubscribed, now)?;
    }
    Ok(Some(records))
}

/// The `erased` event of one consent.
fn record_erased(
    conn: &mut DbConn,
    consent: &ConsentRow,
    address_key: &str,
    reason: Reason,
    records: usize,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let event = NewEvent {
        consent_id: Some(&consent.id),
        subject_key: Some(address_key),
        ..NewEvent::new(
            EventKind::Erased,
            json!({
                "reason": reason.as_str(),
                "previous_status": consent.status,
                "pii_records": records,
            }),
        )
    };
    record_event(conn, &consent.sender_id, event, now)?;
    Ok(())
}

/// Minimises, for every sender not on legal hold, up to `limit` consents per sender that
/// ended more than the sender's retention period ago. Each consent is its own transaction.
/// Returns how many were minimised.
pub fn minimise_expired(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> Result<usize, StoreError> {
    let mut done = 0;
    for sender in senders::list_senders(conn)? {
        if sender.legal_hold {
            continue;
        }
        let cutoff = retention_cutoff(&sender, now);
        for due in consents::due_for_minimising(conn, &sender.id, cutoff, limit)? {
            done += write_transaction(conn, |conn| minimise_one(conn, &due.id, cutoff, now))?;
        }
    }
    // Also when none was due: a sweep whose WAL could not be truncated is finished by the
    // next one.
    discard_erased_frames(conn)?;
    Ok(done)
}

fn retention_cutoff(sender: &Sender, now: NaiveDateTime) -> NaiveDateTime {
    now - chrono::Duration::days(sender.retention_days)
}

/// Re-reads the consent under the write lock (a hold or a new signup may have come) and
/// minimises it if it is still due.
fn minimise_one(
    conn: &mut DbConn,
    consent_id: &ConsentId,
    cutoff: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let Some((consent, sub)) = super::locked_consent(conn, consent_id)? else {
        return Ok(0);
    };
    let held = senders::find_sender(conn, &consent.sender_id)?.is_none_or(|s| s.legal_hold);
    let due = consent.minimised_at.is_none() && consent.ended_at.is_some_and(|t| t < cutoff);
    if held || !due {
        return Ok(0);
    }
    let Some(records) = erase_rows(conn, &consent, now)? else {
        return Ok(0);
    };
    // The address is still needed while a newer consent of the subscription is current.
    if sub.current_consent_id == consent.id {
        subscriptions::erase_address(conn, &sub.id, now)?;
    }
    record_erased(
        conn,
        &consent,
        &sub.address_key,
        Reason::Retention,
        records,
        now,
    )?;
    Ok(1)
}
