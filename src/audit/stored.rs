//! The audit trail in the database: verifying a sender's stored chain (with its head row and
//! its signed checkpoints) and signing the current head (recording an export is `flows::export`).

use super::checkpoint::{Checkpoint, SigningKeys, VerifyingKeys};
use super::verify::{check_event, Chain, Failure, Report};
use crate::clock;
use crate::db::ledger;
use crate::db::{self, checkpoints, DbConn, StoreError};
use crate::domain::ids::SenderId;

/// Recomputes every hash of the sender's chain, checks seq continuity, linkage and personal
/// data, that the chain head row names the last event, and every stored checkpoint against
/// the event it names and `keys`.
pub fn verify_chain(
    conn: &mut DbConn,
    sender_id: &SenderId,
    keys: &VerifyingKeys,
) -> Result<Report, StoreError> {
    let (head, chain, mut failure) = db::snapshot(conn, |conn| {
        let head = ledger::head(conn, sender_id)?;
        let mut chain = Chain::default();
        let failure = walk(conn, sender_id, &mut chain)?;
        Ok((head, chain, failure))
    })?;
    if failure.is_none() {
        failure = check_head(&chain, head);
    }
    let mut verified = 0;
    if failure.is_none() {
        for checkpoint in checkpoints::list_checkpoints(conn, sender_id)? {
            let stored = ledger::hash_at(conn, sender_id, checkpoint.seq)?;
            if stored.as_deref() != Some(checkpoint.hash.as_str()) {
                failure = Some(Failure {
                    seq: checkpoint.seq,
                    reason: format!(
                        "the event at seq {} differs from the signed checkpoint of {}",
                        checkpoint.seq, checkpoint.at
                    ),
                });
                break;
            }
            if let Err(e) = keys.verify(&checkpoint) {
                failure = Some(Failure {
                    seq: checkpoint.seq,
                    reason: format!("checkpoint at seq {}: {e}", checkpoint.seq),
                });
                break;
            }
            verified += 1;
        }
    }
    let mut report = Report::new(&chain, failure);
    report.checkpoints_verified = Some(verified);
    Ok(report)
}

/// Feeds every stored event to `chain`; the first failure, if any.
fn walk(
    conn: &mut DbConn,
    sender_id: &SenderId,
    chain: &mut Chain,
) -> Result<Option<Failure>, StoreError> {
    let mut buf = Vec::with_capacity(1024);
    let mut after = 0;
    loop {
        let page = ledger::events_page(conn, sender_id, after, i64::MAX, 2000)?;
        let Some((last, _)) = page.last() else {
            return Ok(None);
        };
        after = last.seq;
        for (event, pii) in &page {
            let pii = pii.as_ref().and_then(|p| p.record());
            let at = clock::rfc3339(event.at);
            let record = event.record(&at, pii.as_ref());
            let linked = check_event(&record, &mut buf).and_then(|state| {
                chain.link(
                    sender_id.as_str(),
                    event.seq,
                    &event.prev_hash,
                    &event.hash,
                    state,
                    false,
                )
            });
            if let Err(failure) = linked {
                return Ok(Some(failure));
            }
        }
    }
}

/// The head row must name the last event (a removed tail leaves it pointing past the end).
fn check_head(chain: &Chain, head: Option<(i64, String)>) -> Option<Failure> {
    let (head_seq, head_hash) = head.unwrap_or((0, String::new()));
    match chain.head() {
        None if head_seq == 0 => None,
        Some((seq, hash)) if seq == head_seq && hash == head_hash => None,
        last => {
            let last_seq = last.map_or(0, |(seq, _)| seq);
            Some(Failure {
                seq: last_seq + 1,
                reason: format!(
                    "the chain head records seq {head_seq} but the events end at seq {last_seq}: events were removed from the end or the head was altered"
                ),
            })
        }
    }
}

/// Signs the sender's current head and stores the checkpoint; the stored one when that head
/// was signed before. `None` for a chain without events.
pub fn sign_head(
    conn: &mut DbConn,
    sender_id: &SenderId,
    keys: &SigningKeys,
) -> Result<Option<Checkpoint>, StoreError> {
    let Some((seq, hash)) = ledger::head(conn, sender_id)?.filter(|(seq, _)| *seq > 0) else {
        return Ok(None);
    };
    sign_at(conn, sender_id, seq, &hash, keys).map(|(checkpoint, _)| Some(checkpoint))
}

/// The checkpoint of `seq`: the stored one, or a new one signed and stored now (true).
fn sign_at(
    conn: &mut DbConn,
    sender_id: &SenderId,
    seq: i64,
    hash: &str,
    keys: &SigningKeys,
) -> Result<(Checkpoint, bool), StoreError> {
    if let Some(existing) = checkpoints::find_checkpoint(conn, sender_id, seq)? {
        return Ok((existing, false));
    }
    let now = clock::now();
    let checkpoint = keys.sign(sender_id.as_str(), None, (seq, hash), &clock::rfc3339(now));
    if checkpoints::insert_checkpoint(conn, &checkpoint, now)? {
        return Ok((checkpoint, true));
    }
    // Another instance signed this head in between: its checkpoint is the one kept.
    let stored = checkpoints::find_checkpoint(conn, sender_id, seq)?;
    Ok((stored.unwrap_or(checkpoint), false))
}

/// Signs every head that moved since its last checkpoint; returns how many were signed.
pub fn sign_moved_heads(conn: &mut DbConn, keys: &SigningKeys) -> Result<usize, StoreError> {
    let mut signed = 0;
    for (sender_id, seq, hash) in ledger::heads(conn)? {
        if sign_at(conn, &sender_id, seq, &hash, keys)?.1 {
            signed += 1;
        }
    }
    Ok(signed)
}
