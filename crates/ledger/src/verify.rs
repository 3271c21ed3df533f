//! Chain verification, shared by `GET /v1/audit/verify` (events from the database) and
//! `consentry audit verify FILE` (events from an export, no database): every hash is
//! recomputed, `seq` must run on without gaps, each `prev_hash` must be the previous
//! event's `hash`, present personal data must match `pii_sha256`, and a signed checkpoint,
//! when given, must name the last event.

use serde::Serialize;
use serde_json::Value;

use crate::canonical::Canonical;
use crate::chain::{ChainedFields, GENESIS_HASH};
use crate::checkpoint::{Checkpoint, VerifyingKeys};
use crate::json::Json;
use crate::pii::PiiRef;

/// One event as read back (from the database or a file): its chained fields with `data` as
/// the JSON text it was stored or exported as, the personal data beside it (if still
/// there) and the stored hashes.
pub struct EventRecord<'a> {
    pub event: ChainedFields<'a, str>,
    pub pii: Option<PiiRef<'a>>,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

/// `data` exactly as it was written.
struct AsWritten<'a>(&'a str);

impl Canonical for AsWritten<'_> {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.as_bytes());
    }
}

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub seq: i64,
    pub reason: String,
}

fn fail(seq: i64, reason: impl Into<String>) -> Failure {
    Failure {
        seq,
        reason: reason.into(),
    }
}

/// What an event holds of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiiState {
    /// Never had any.
    None,
    /// Present and matching `pii_sha256`.
    Present,
    /// Digest in the chain, data erased.
    Erased,
}

/// The checks that need nothing but the event itself: its hash and its personal data.
/// Independent per event, so a file can be checked on several threads.
///
/// Ledger `data` is stored and exported canonically, so its text usually hashes as it is:
/// a hash that matches means these are exactly the bytes that were hashed. Otherwise
/// (reformatted, or altered) the data is parsed, keeping repeated members, and written
/// canonically before the verdict.
pub fn check_event(record: &EventRecord<'_>, buf: &mut Vec<u8>) -> Result<PiiState, Failure> {
    let (prev, hash, event) = (record.prev_hash, record.hash, &record.event);
    if !event
        .with_data(&AsWritten(event.data))
        .hash_matches(prev, hash, buf)
    {
        let altered = || {
            fail(
                event.seq,
                "the event's hash does not match its contents (the event was altered)",
            )
        };
        let parsed: Json<'_> = serde_json::from_str(event.data).map_err(|_| altered())?;
        if !event.with_data(&parsed).hash_matches(prev, hash, buf) {
            return Err(altered());
        }
    }
    check_pii(record)
}

/// The personal data against `pii_sha256`.
fn check_pii(record: &EventRecord<'_>) -> Result<PiiState, Failure> {
    let seq = record.event.seq;
    match (record.pii, record.event.pii_sha256) {
        (None, None) => Ok(PiiState::None),
        (None, Some(_)) => Ok(PiiState::Erased),
        (Some(_), None) => Err(fail(
            seq,
            "personal data is attached to an event that recorded none",
        )),
        (Some(pii), Some(digest)) if pii.matches(digest) => Ok(PiiState::Present),
        (Some(_), Some(_)) => Err(fail(
            seq,
            "the personal data does not match pii_sha256 (it was altered)",
        )),
    }
}

/// The linkage of consecutive events, checked in order.
#[derive(Debug, Default)]
pub struct Chain {
    sender_id: Option<String>,
    first_seq: Option<i64>,
    last_seq: Option<i64>,
    /// The hash of `last_seq`, overwritten in place from event to event.
    last_hash: String,
    pub events: u64,
    pub pii_present: u64,
    pub pii_erased: u64,
}

impl Chain {
    /// Accepts the next event: seq continues, prev_hash is the last hash, one sender. The
    /// first event must start the chain (seq 1, genesis) unless `partial` allows an export
    /// that starts later (then its own prev_hash is the anchor).
    pub fn link(
        &mut self,
        sender_id: &str,
        seq: i64,
        prev_hash: &str,
        hash: &str,
        pii: PiiState,
        partial: bool,
    ) -> Result<(), Failure> {
        match self.last_seq {
            None => {
                if seq < 1 || (!partial && seq != 1) {
                    return Err(fail(
                        1,
                        format!("the chain starts at seq {seq}, not 1: events were removed"),
                    ));
                }
                if seq == 1 && prev_hash != GENESIS_HASH {
                    return Err(fail(1, "the first event does not link to the genesis hash"));
                }
                self.sender_id = Some(sender_id.to_owned());
                self.first_seq = Some(seq);
            }
            Some(last_seq) => {
                let expected = last_seq + 1;
                if seq != expected {
                    let why = if seq > expected {
                        format!("seq {expected} is missing (found {seq}): an event was removed or the order changed")
                    } else {
                        format!("seq {seq} appears where {expected} belongs: an event was inserted or the order changed")
                    };
                    return Err(fail(expected, why));
                }
                if self.sender_id.as_deref() != Some(sender_id) {
                    return Err(fail(seq, "the event belongs to another sender's chain"));
                }
                if prev_hash != self.last_hash {
                    return Err(fail(
                        seq,
                        format!("prev_hash does not match the hash of seq {last_seq} (an event was inserted, altered or replaced)"),
                    ));
                }
            }
        }
        self.last_seq = Some(seq);
        self.last_hash.clear();
        self.last_hash.push_str(hash);
        self.events += 1;
        match pii {
            PiiState::Present => self.pii_present += 1,
            PiiState::Erased => self.pii_erased += 1,
            PiiState::None => {}
        }
        Ok(())
    }

    /// (seq, hash) of the last accepted event.
    pub fn head(&self) -> Option<(i64, &str)> {
        self.last_seq.map(|seq| (seq, self.last_hash.as_str()))
    }

    pub fn first_seq(&self) -> Option<i64> {
        self.first_seq
    }

    /// Checks that `checkpoint` names this chain's last event; with keys, its signature too.
    /// Returns whether the signature was checked.
    pub fn close(
        &self,
        checkpoint: &Checkpoint,
        keys: Option<&VerifyingKeys>,
    ) -> Result<bool, Failure> {
        let Some((seq, hash)) = self.head() else {
            return Err(fail(checkpoint.seq, "a checkpoint without events"));
        };
        if checkpoint.seq > seq {
            return Err(fail(
                seq + 1,
                format!("the signed checkpoint names seq {} but the events end at seq {seq}: events were removed from the end", checkpoint.seq),
            ));
        }
        if checkpoint.seq < seq {
            return Err(fail(
                checkpoint.seq + 1,
                format!(
                    "events follow the signed checkpoint at seq {}: they were added afterwards",
                    checkpoint.seq
                ),
            ));
        }
        if checkpoint.hash != hash {
            return Err(fail(
                seq,
                "the last event's hash differs from the signed checkpoint's",
            ));
        }
        // A head checkpoint (no range) could close any cut of the chain at its seq: an
        // export must end with the checkpoint signed for that export.
        let Some(after_seq) = checkpoint.after_seq else {
            return Err(fail(
                seq,
                "the closing checkpoint does not sign an export's range (after_seq is missing)",
            ));
        };
        let first_expected = after_seq + 1;
        if self.first_seq != Some(first_expected) {
            return Err(fail(
                first_expected,
                format!(
                    "the export should start at seq {first_expected} but starts at seq {}: events were removed from the start",
                    self.first_seq.unwrap_or_default()
                ),
            ));
        }
        if self.sender_id.as_deref() != Some(checkpoint.sender_id.as_str()) {
            return Err(fail(seq, "the checkpoint is for another sender"));
        }
        match keys {
            Some(keys) => keys
                .verify(checkpoint)
                .map(|()| true)
                .map_err(|e| fail(seq, format!("checkpoint signature: {e}"))),
            None => Ok(false),
        }
    }
}

/// The outcome, as `GET /v1/audit/verify` and `consentry audit verify --json` print it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    pub ok: bool,
    pub events: u64,
    /// seq and hash of the last event verified.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub head: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Events whose personal data is present and matches its digest.
    pub pii_verified: u64,
    /// Events whose personal data was erased (their digest stays in the chain).
    pub pii_erased: u64,
    /// The signed checkpoint the events end with, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    /// With a checkpoint: whether its signature was checked against a public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_verified: Option<bool>,
    /// Stored checkpoints whose event and signature were checked (online verification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoints_verified: Option<u64>,
}

impl Report {
    pub fn new(chain: &Chain, failure: Option<Failure>) -> Self {
        Self {
            ok: failure.is_none(),
            events: chain.events,
            head: chain
                .head()
                .map(|(seq, hash)| serde_json::json!({ "seq": seq, "hash": hash })),
            first_seq: chain.first_seq(),
            first_bad_seq: failure.as_ref().map(|f| f.seq),
            reason: failure.map(|f| f.reason),
            pii_verified: chain.pii_present,
            pii_erased: chain.pii_erased,
            checkpoint: None,
            signature_verified: None,
            checkpoints_verified: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::chain_hash;
    use serde_json::json;

    /// (seq, prev, hash) of a valid chain of `n` events with data `{}`.
    fn chain(n: i64) -> Vec<(i64, String, String)> {
        let data = json!({});
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let canonical = record(seq, "", "", "").event.with_data(&data).canonical();
                let hash = chain_hash(&prev, &canonical);
                let out = (seq, prev.clone(), hash.clone());
                prev = hash;
                out
            })
            .collect()
    }

    fn record<'a>(seq: i64, data: &'a str, prev: &'a str, hash: &'a str) -> EventRecord<'a> {
        EventRecord {
            event: ChainedFields {
                sender_id: "s",
                seq,
                id: "e",
                at: "2026-11-28T00:00:00Z",
                kind: "checked",
                consent_id: None,
                list: None,
                subject_key: None,
                data,
                pii_sha256: None,
            },
            pii: None,
            prev_hash: prev,
            hash,
        }
    }

    fn run(events: &[(i64, String, String)]) -> Result<Chain, Failure> {
        let mut chain = Chain::default();
        let mut buf = Vec::new();
        for (seq, prev, hash) in events {
            let pii = check_event(&record(*seq, "{}", prev, hash), &mut buf)?;
            chain.link("s", *seq, prev, hash, pii, false)?;
        }
        Ok(chain)
    }

    #[test]
    fn data_is_judged_by_its_canonical_form_and_repeated_members_fail() {
        let (seq, prev, hash) = {
            let data = json!({"a": 1, "b": "x"});
            let canonical = record(1, "", "", "").event.with_data(&data).canonical();
            (1, GENESIS_HASH, chain_hash(GENESIS_HASH, &canonical))
        };
        let mut buf = Vec::new();
        for fine in [r#"{"a":1,"b":"x"}"#, r#"{ "b": "x", "a": 1 }"#] {
            assert!(
                check_event(&record(seq, fine, prev, &hash), &mut buf).is_ok(),
                "{fine}"
            );
        }
        for altered in [
            r#"{"a":2,"b":"x"}"#,
            r#"{"a":"evil","a":1,"b":"x"}"#,
            "not json",
        ] {
            assert!(
                check_event(&record(seq, altered, prev, &hash), &mut buf).is_err(),
                "{altered}"
            );
        }
    }

    #[test]
    fn an_intact_chain_verifies() {
        let chain = run(&chain(5)).unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(chain.events, 5);
        assert_eq!(chain.head().map(|h| h.0), Some(5));
    }

    #[test]
    fn removed_reordered_and_inserted_events_name_the_first_bad_seq() {
        let mut removed = chain(5);
        removed.remove(2);
        assert_eq!(run(&removed).err().map(|f| f.seq), Some(3));

        let mut swapped = chain(5);
        swapped.swap(1, 2);
        assert_eq!(run(&swapped).err().map(|f| f.seq), Some(2));

        let mut inserted = chain(5);
        let copy = inserted[1].clone();
        inserted.insert(2, copy);
        assert_eq!(run(&inserted).err().map(|f| f.seq), Some(3));

        let mut edited = chain(5);
        edited[3].2 = "00".repeat(32);
        assert_eq!(run(&edited).err().map(|f| f.seq), Some(4));
    }
}
