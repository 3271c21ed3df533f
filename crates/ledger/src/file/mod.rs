//! Offline verification of an exported file (NDJSON or CSV), without the database: each
//! line is checked on its own (hash, personal data), then linked to the one before in file
//! order, so the first failure reported is the first in the file.

mod csv;
mod ndjson;

pub use csv::CSV_HEADER;

use std::io::Read;
use std::sync::Arc;

use crate::checkpoint::{Checkpoint, VerifyingKeys};
use crate::verify::{check_event, Chain, EventRecord, Failure, PiiState, Report};

/// Verifies an export read from `input` (NDJSON or CSV, told apart by the first byte).
pub fn verify_export(
    mut input: impl Read,
    keys: Option<&VerifyingKeys>,
) -> std::io::Result<Report> {
    let mut first = Vec::with_capacity(1);
    (&mut input).take(1).read_to_end(&mut first)?;
    let ndjson = first.first().is_none_or(|&b| b == b'{');
    let input = std::io::Cursor::new(first).chain(input);
    if ndjson {
        ndjson::verify(input, keys)
    } else {
        csv::verify(input, keys)
    }
}

/// What a worker learned from one line, for the in-order linking.
enum Checked {
    Event {
        seq: i64,
        sender_id: Arc<str>,
        prev_hash: Hex64,
        hash: Hex64,
        outcome: Result<PiiState, Failure>,
    },
    Checkpoint(Checkpoint),
    Unreadable(String),
}

/// A SHA-256 in lower-case hex, held without an allocation.
#[derive(Clone, Copy)]
struct Hex64([u8; 64]);

impl Hex64 {
    fn parse(text: &str) -> Option<Self> {
        let bytes: [u8; 64] = text.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .then_some(Self(bytes))
    }

    fn as_str(&self) -> &str {
        // Only ASCII hex digits get in.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// What a worker reuses from line to line: the canonical-bytes buffer and the sender id
/// (the same on every line of a genuine export).
#[derive(Default)]
struct Scratch {
    buf: Vec<u8>,
    sender: Option<Arc<str>>,
}

impl Scratch {
    fn sender(&mut self, id: &str) -> Arc<str> {
        match &self.sender {
            Some(known) if &**known == id => known.clone(),
            _ => {
                let id: Arc<str> = id.into();
                self.sender = Some(id.clone());
                id
            }
        }
    }
}

/// Checks one event of the file on its own (hash, personal data) for the in-order linking.
fn check_record(record: &EventRecord<'_>, scratch: &mut Scratch) -> Checked {
    let (Some(prev_hash), Some(hash)) = (Hex64::parse(record.prev_hash), Hex64::parse(record.hash))
    else {
        return Checked::Unreadable("prev_hash or hash is not 64 lower-case hex digits".into());
    };
    let outcome = check_event(record, &mut scratch.buf);
    Checked::Event {
        seq: record.event.seq,
        sender_id: scratch.sender(record.event.sender_id),
        prev_hash,
        hash,
        outcome,
    }
}

/// Links checked lines in file order and remembers the closing checkpoint.
struct Linker {
    chain: Chain,
    checkpoint: Option<Checkpoint>,
    line: u64,
}

impl Linker {
    fn accept(&mut self, checked: Checked) -> Result<(), Failure> {
        self.line += 1;
        let next_seq = self.chain.head().map_or(1, |(seq, _)| seq + 1);
        if let Some(checkpoint) = &self.checkpoint {
            return Err(Failure {
                seq: checkpoint.seq + 1,
                reason: format!("line {} follows the closing checkpoint", self.line),
            });
        }
        match checked {
            Checked::Unreadable(why) => Err(Failure {
                seq: next_seq,
                reason: format!("line {} is not a valid event: {why}", self.line),
            }),
            Checked::Checkpoint(checkpoint) => {
                self.checkpoint = Some(checkpoint);
                Ok(())
            }
            Checked::Event {
                seq,
                sender_id,
                prev_hash,
                hash,
                outcome,
            } => {
                // An out-of-place seq explains a hash failure better than the hash does.
                if self.chain.head().is_some() && seq != next_seq {
                    self.chain.link(
                        &sender_id,
                        seq,
                        prev_hash.as_str(),
                        hash.as_str(),
                        PiiState::None,
                        true,
                    )?;
                }
                let pii = outcome?;
                self.chain.link(
                    &sender_id,
                    seq,
                    prev_hash.as_str(),
                    hash.as_str(),
                    pii,
                    true,
                )
            }
        }
    }

    /// The report: a missing or mismatched checkpoint fails; its signature is checked when
    /// keys were given.
    fn finish(self, keys: Option<&VerifyingKeys>, failure: Option<Failure>) -> Report {
        let failure = failure.or_else(|| match (&self.checkpoint, self.chain.events) {
            (_, 0) => Some(Failure {
                seq: 1,
                reason: "the file holds no events".into(),
            }),
            (None, _) => Some(Failure {
                seq: self.chain.head().map_or(1, |(seq, _)| seq + 1),
                reason:
                    "the export does not end with a signed checkpoint: it may have been truncated"
                        .into(),
            }),
            (Some(_), _) => None,
        });
        let mut signed = false;
        let failure = match (failure, &self.checkpoint) {
            (None, Some(checkpoint)) => match self.chain.close(checkpoint, keys) {
                Ok(checked) => {
                    signed = checked;
                    None
                }
                Err(f) => Some(f),
            },
            (failure, _) => failure,
        };
        let mut report = Report::new(&self.chain, failure);
        report.signature_verified = self.checkpoint.as_ref().map(|_| signed);
        report.checkpoint = self.checkpoint;
        report
    }
}
