//! NDJSON exports, read in blocks of whole lines that worker threads check independently;
//! the reading thread links their results in order.

use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{check_record, Checked, Linker, Scratch};
use crate::chain::ChainedFields;
use crate::checkpoint::{Checkpoint, VerifyingKeys};
use crate::json::Str;
use crate::pii::PiiRef;
use crate::verify::{Chain, EventRecord, Failure, Report};

const BLOCK: usize = 1 << 20;

/// An NDJSON line: an event, or the closing `{"checkpoint": {...}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
    salt: Option<Str<'a>>,
}

impl PiiLine<'_> {
    fn as_ref(&self) -> PiiRef<'_> {
        PiiRef {
            email: self.email.as_deref(),
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            note: self.note.as_deref(),
            salt: self.salt.as_deref(),
        }
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
    check_record(
        &EventRecord {
            event: ChainedFields {
                seq,
                id,
                sender_id,
                at,
                kind,
                consent_id: line.consent_id.as_deref(),
                list: line.list.as_deref(),
                subject_key: line.subject_key.as_deref(),
                data,
                pii_sha256: line.pii_sha256.as_deref(),
            },
            pii: line.pii.as_ref().map(PiiLine::as_ref),
            prev_hash,
            hash,
        },
        scratch,
    )
}

pub(super) fn verify(input: impl Read, keys: Option<&VerifyingKeys>) -> std::io::Result<Report> {
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
