//! Offline verification of an exported file (NDJSON or CSV), without the database. NDJSON is
//! read in blocks that worker threads check independently (hashes and personal data); the
//! reading thread then links the results in order, so the first failure found is the first
//! in the file.

use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::checkpoint::{Checkpoint, VerifyingKeys};
use super::export::CSV_HEADER;
use super::json::{Json, Str};
use super::verify::{check_event, check_pii, Chain, EventRecord, Failure, PiiState, Report};
use crate::domain::ledger::{Canonical, ChainedFields, PiiRecord, PiiRef};

const BLOCK: usize = 1 << 20;

/// An NDJSON line: an event, or the closing `{"checkpoint": {...}}`.
#[derive(Deserialize)]
struct Line<'a> {
    checkpoint: Option<Checkpoint>,
    seq: Option<i64>,
    #[serde(borrow)]
    id: Option<Str<'a>>,
    #[serde(borrow)]
    sender_id: Option<Str<'a>>,
    #[serde(borrow)]
    at: Option<Str<'a>>,
    #[serde(borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    consent_id: Option<Str<'a>>,
    #[serde(borrow)]
    list: Option<Str<'a>>,
    #[serde(borrow)]
    subject_key: Option<Str<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    pii: Option<PiiLine<'a>>,
    #[serde(borrow)]
    pii_sha256: Option<Str<'a>>,
    #[serde(borrow)]
    prev_hash: Option<Str<'a>>,
    #[serde(borrow)]
    hash: Option<Str<'a>>,
}

/// The personal data of an NDJSON line, borrowed.
#[derive(Deserialize)]
struct PiiLine<'a> {
    #[serde(borrow)]
    email: Option<Str<'a>>,
    #[serde(borrow)]
    ip: Option<Str<'a>>,
    #[serde(borrow)]
    user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    note: Option<Str<'a>>,
    #[serde(borrow)]
    salt: Str<'a>,
}

impl PiiLine<'_> {
    fn as_ref(&self) -> PiiRef<'_> {
        PiiRef {
            email: self.email.as_deref(),
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            note: self.note.as_deref(),
            salt: &self.salt,
        }
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

/// Fields of an event in an export, owned or borrowed, whatever the format.
struct Fields<'a> {
    seq: i64,
    id: &'a str,
    sender_id: &'a str,
    at: &'a str,
    kind: &'a str,
    consent_id: Option<&'a str>,
    list: Option<&'a str>,
    subject_key: Option<&'a str>,
    /// `data` as written in the file.
    data: &'a str,
    pii: Option<PiiRef<'a>>,
    pii_sha256: Option<&'a str>,
    prev_hash: &'a str,
    hash: &'a str,
}

/// `data` exactly as it is written in the file.
struct AsWritten<'a>(&'a str);

impl Canonical for AsWritten<'_> {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.as_bytes());
    }
}

fn check_fields(f: Fields<'_>, scratch: &mut Scratch) -> Checked {
    let (Some(prev_hash), Some(hash)) = (Hex64::parse(f.prev_hash), Hex64::parse(f.hash)) else {
        return Checked::Unreadable("prev_hash or hash is not 64 lower-case hex digits".into());
    };
    let buf = &mut scratch.buf;
    let as_written = AsWritten(f.data);
    let mut record = EventRecord {
        fields: ChainedFields {
            sender_id: f.sender_id,
            seq: f.seq,
            id: f.id,
            at: f.at,
            kind: f.kind,
            consent_id: f.consent_id,
            list: f.list,
            subject_key: f.subject_key,
            data: &as_written,
            pii_sha256: f.pii_sha256,
        },
        pii: f.pii,
        prev_hash: f.prev_hash,
        hash: f.hash,
    };
    // Exports write `data` canonically already, so its text usually hashes as it is; a hash
    // that matches means these are the bytes that were hashed. Otherwise (reformatted, or
    // altered) the data is parsed and written canonically before the verdict.
    let outcome = if record.fields.hash_matches(f.prev_hash, f.hash, buf) {
        check_pii(&record)
    } else {
        match serde_json::from_str::<Json<'_>>(f.data) {
            Ok(parsed) => {
                record.fields.data = &parsed;
                check_event(&record, buf)
            }
            Err(_) => return Checked::Unreadable("data is not JSON".into()),
        }
    };
    Checked::Event {
        seq: f.seq,
        sender_id: scratch.sender(f.sender_id),
        prev_hash,
        hash,
        outcome,
    }
}

fn check_line(text: &str, scratch: &mut Scratch) -> Checked {
    let line: Line<'_> = match serde_json::from_str(text) {
        Ok(line) => line,
        Err(e) => return Checked::Unreadable(format!("not JSON ({e})")),
    };
    if let Some(checkpoint) = line.checkpoint {
        return Checked::Checkpoint(checkpoint);
    }
    let (Some(seq), Some(id), Some(sender_id), Some(at), Some(kind), Some(data)) = (
        line.seq,
        line.id.as_deref(),
        line.sender_id.as_deref(),
        line.at.as_deref(),
        line.kind.as_deref(),
        line.data.map(RawValue::get),
    ) else {
        return Checked::Unreadable("an event field is missing".into());
    };
    let (Some(prev_hash), Some(hash)) = (line.prev_hash.as_deref(), line.hash.as_deref()) else {
        return Checked::Unreadable("prev_hash or hash is missing".into());
    };
    check_fields(
        Fields {
            seq,
            id,
            sender_id,
            at,
            kind,
            consent_id: line.consent_id.as_deref(),
            list: line.list.as_deref(),
            subject_key: line.subject_key.as_deref(),
            data,
            pii: line.pii.as_ref().map(PiiLine::as_ref),
            pii_sha256: line.pii_sha256.as_deref(),
            prev_hash,
            hash,
        },
        scratch,
    )
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
        report.checkpoint = self.checkpoint;
        report.signature_verified = signed;
        report
    }
}

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
        verify_ndjson(input, keys)
    } else {
        verify_csv(input, keys)
    }
}

fn verify_ndjson(input: impl Read, keys: Option<&VerifyingKeys>) -> std::io::Result<Report> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let mut linker = Linker {
        chain: Chain::default(),
        checkpoint: None,
        line: 0,
    };
    let failure = std::thread::scope(|scope| -> std::io::Result<Option<Failure>> {
        let mut to_workers = Vec::new();
        let mut from_workers = Vec::new();
        for _ in 0..workers {
            let (job_tx, job_rx) = sync_channel::<Vec<u8>>(2);
            let (out_tx, out_rx) = sync_channel::<(Vec<Checked>, Vec<u8>)>(2);
            scope.spawn(move || check_blocks(job_rx, out_tx));
            to_workers.push(job_tx);
            from_workers.push(out_rx);
        }
        // Block i goes to worker i % n and comes back from it in the same order.
        let mut blocks = Blocks::new(input);
        let (mut sent, mut received) = (0usize, 0usize);
        let mut failure = None;
        loop {
            while failure.is_none() && sent - received < workers * 2 {
                match blocks.next_block()? {
                    Some(block) => {
                        if to_workers[sent % workers].send(block).is_err() {
                            break;
                        }
                        sent += 1;
                    }
                    None => break,
                }
            }
            if received == sent {
                break;
            }
            let Ok((checked, spent)) = from_workers[received % workers].recv() else {
                break;
            };
            blocks.recycle(spent);
            received += 1;
            if failure.is_none() {
                for item in checked {
                    if let Err(f) = linker.accept(item) {
                        failure = Some(f);
                        break;
                    }
                }
            }
        }
        drop(to_workers);
        Ok(failure)
    })?;
    Ok(linker.finish(keys, failure))
}

/// Checks each block's lines and sends the results back with the block's buffer for reuse.
fn check_blocks(jobs: Receiver<Vec<u8>>, results: SyncSender<(Vec<Checked>, Vec<u8>)>) {
    let mut scratch = Scratch::default();
    for block in jobs {
        // One UTF-8 check per block, so the JSON reader need not check every string again.
        let checked = match std::str::from_utf8(&block) {
            Ok(text) => text
                .split('\n')
                .filter(|line| !line.trim().is_empty())
                .map(|line| check_line(line, &mut scratch))
                .collect(),
            Err(_) => vec![Checked::Unreadable("the file is not UTF-8".into())],
        };
        if results.send((checked, block)).is_err() {
            return;
        }
    }
}

/// Splits input into blocks of whole lines, reusing the buffers of checked blocks (a fresh
/// megabyte per block cost a page fault per page).
struct Blocks<R> {
    input: R,
    carry: Vec<u8>,
    spare: Vec<Vec<u8>>,
    done: bool,
}

impl<R: Read> Blocks<R> {
    fn new(input: R) -> Self {
        Self {
            input,
            carry: Vec::new(),
            spare: Vec::new(),
            done: false,
        }
    }

    fn recycle(&mut self, mut buffer: Vec<u8>) {
        buffer.clear();
        self.spare.push(buffer);
    }

    fn next_block(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut block = self.spare.pop().unwrap_or_default();
        block.append(&mut self.carry);
        while !self.done {
            block.reserve(BLOCK);
            let n = (&mut self.input)
                .take(BLOCK as u64)
                .read_to_end(&mut block)?;
            if n == 0 {
                self.done = true;
                break;
            }
            if let Some(end) = block.iter().rposition(|&b| b == b'\n') {
                self.carry.extend_from_slice(&block[end + 1..]);
                block.truncate(end + 1);
                return Ok(Some(block));
            }
        }
        Ok((!block.is_empty()).then_some(block))
    }
}

fn verify_csv(input: impl Read, keys: Option<&VerifyingKeys>) -> std::io::Result<Report> {
    let mut reader = csv::Reader::from_reader(input);
    let mut linker = Linker {
        chain: Chain::default(),
        checkpoint: None,
        line: 0,
    };
    let header_ok = reader
        .headers()
        .map(|h| h.iter().eq(CSV_HEADER.iter().copied()))
        .unwrap_or(false);
    let mut failure = (!header_ok).then(|| Failure {
        seq: 1,
        reason: format!("the CSV header is not {}", CSV_HEADER.join(",")),
    });
    let mut scratch = Scratch::default();
    let mut record = csv::StringRecord::new();
    while failure.is_none() {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                if let Err(f) = linker.accept(check_csv_row(&record, &mut scratch)) {
                    failure = Some(f);
                }
            }
            Err(e) => {
                failure = Some(Failure {
                    seq: linker.chain.head().map_or(1, |(seq, _)| seq + 1),
                    reason: format!("unreadable CSV: {e}"),
                })
            }
        }
    }
    Ok(linker.finish(keys, failure))
}

fn check_csv_row(row: &csv::StringRecord, scratch: &mut Scratch) -> Checked {
    let cell = |i: usize| row.get(i).unwrap_or("");
    let nullable = |i: usize| Some(cell(i)).filter(|v| !v.is_empty());
    let Ok(seq) = cell(0).parse::<i64>() else {
        return Checked::Unreadable("seq is not a number".into());
    };
    if cell(4) == "checkpoint" && cell(1).is_empty() {
        return match serde_json::from_str(cell(8)) {
            Ok(checkpoint) => Checked::Checkpoint(checkpoint),
            Err(e) => Checked::Unreadable(format!("checkpoint is not valid ({e})")),
        };
    }
    let pii = match nullable(9).map(serde_json::from_str::<PiiRecord>) {
        None => None,
        Some(Ok(pii)) => Some(pii),
        Some(Err(_)) => return Checked::Unreadable("pii is not a personal-data record".into()),
    };
    check_fields(
        Fields {
            seq,
            id: cell(1),
            sender_id: cell(2),
            at: cell(3),
            kind: cell(4),
            consent_id: nullable(5),
            list: nullable(6),
            subject_key: nullable(7),
            data: cell(8),
            pii: pii.as_ref().map(PiiRecord::as_ref),
            pii_sha256: nullable(10),
            prev_hash: cell(11),
            hash: cell(12),
        },
        scratch,
    )
}
