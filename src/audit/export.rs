//! Writing a sender's events as NDJSON or CSV, page by page at constant memory, ending with
//! a signed checkpoint of the last event. Used by `GET /v1/audit/events` and
//! `consentry audit export`; `docs/ledger.md` describes the format.

use std::io::Write;

use serde::Serialize;
use serde_json::value::RawValue;

use consentry_ledger::chain::ChainedFields;
use consentry_ledger::checkpoint::{Checkpoint, SigningKeys};
use consentry_ledger::pii::PiiRecord;

use crate::clock;
use crate::db::ledger::{events_page, EventRow, EventWithPii, PiiRow};
use crate::db::{DbConn, StoreError};
use crate::domain::ids::SenderId;

/// Events read per query.
const PAGE: i64 = 2000;

/// The CSV header (the verifier's); `data` and `pii` hold JSON, an empty cell is null.
pub use consentry_ledger::file::CSV_HEADER;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ndjson" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }
}

/// Events with `after_seq < seq <= through_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub after_seq: i64,
    pub through_seq: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write the export: {0}")]
    Csv(#[from] csv::Error),
    #[error("the chain has no event at seq {0}; the export stops without a checkpoint")]
    Missing(i64),
}

/// One NDJSON line of an event.
#[derive(Serialize)]
struct Line<'a> {
    seq: i64,
    id: &'a str,
    sender_id: &'a str,
    at: &'a str,
    kind: &'a str,
    consent_id: Option<&'a str>,
    list: Option<&'a str>,
    subject_key: Option<&'a str>,
    data: Data<'a>,
    pii: Option<PiiRecord>,
    pii_sha256: Option<&'a str>,
    prev_hash: &'a str,
    hash: &'a str,
}

/// `data` as stored: JSON written through unchanged, or (in a damaged row) the text itself,
/// which verification then reports.
#[derive(Serialize)]
#[serde(untagged)]
enum Data<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

fn line<'a>(event: &ChainedFields<'a, str>, pii: Option<PiiRecord>, row: &'a EventRow) -> Line<'a> {
    Line {
        seq: event.seq,
        id: event.id,
        sender_id: event.sender_id,
        at: event.at,
        kind: event.kind,
        consent_id: event.consent_id,
        list: event.list,
        subject_key: event.subject_key,
        data: serde_json::from_str(event.data)
            .map(Data::Json)
            .unwrap_or(Data::Text(event.data)),
        pii,
        pii_sha256: event.pii_sha256,
        prev_hash: &row.prev_hash,
        hash: &row.hash,
    }
}

/// Writes the events of `range` to `out` and, when every one of them was written, a signed
/// checkpoint of the last. `progress` hears the running count after each page. One thread
/// reads pages while this one writes the previous page, two pages in flight at most, so
/// memory stays constant.
pub fn write_export<W: Write>(
    conn: &mut DbConn,
    sender_id: &SenderId,
    range: Range,
    format: Format,
    keys: &SigningKeys,
    out: W,
    mut progress: impl FnMut(u64),
) -> Result<Checkpoint, ExportError> {
    let mut sink = Sink::new(format, out)?;
    let last = std::thread::scope(|scope| -> Result<Option<(i64, String)>, ExportError> {
        let (pages, received) = std::sync::mpsc::sync_channel::<Vec<EventWithPii>>(1);
        let reader = scope.spawn(move || read_pages(conn, sender_id, range, pages));
        let mut last = None;
        let mut written = 0u64;
        for page in received {
            for (event, pii) in &page {
                sink.event(event, pii.as_ref().and_then(PiiRow::record))?;
            }
            written += page.len() as u64;
            last = page.last().map(|(tail, _)| (tail.seq, tail.hash.clone()));
            progress(written);
        }
        // A write error drops `received`, which stops the reader at its next page.
        reader
            .join()
            .map_err(|_| std::io::Error::other("the page reader panicked"))??;
        Ok(last)
    })?;
    let (seq, hash) = last
        .filter(|(seq, _)| *seq == range.through_seq)
        .ok_or(ExportError::Missing(range.through_seq))?;
    let at = clock::rfc3339(clock::now());
    let checkpoint = keys.sign(sender_id.as_str(), Some(range.after_seq), (seq, &hash), &at);
    sink.checkpoint(&checkpoint)?;
    Ok(checkpoint)
}

/// Sends the pages of `range` in seq order until the range ends or nobody listens.
fn read_pages(
    conn: &mut DbConn,
    sender_id: &SenderId,
    range: Range,
    pages: std::sync::mpsc::SyncSender<Vec<EventWithPii>>,
) -> Result<(), StoreError> {
    let mut after = range.after_seq;
    while after < range.through_seq {
        let page = events_page(conn, sender_id, after, range.through_seq, PAGE)?;
        let Some((tail, _)) = page.last() else {
            break;
        };
        after = tail.seq;
        if pages.send(page).is_err() {
            break;
        }
    }
    Ok(())
}

/// Where rows go, in the export's format.
enum Sink<W: Write> {
    Ndjson(std::io::BufWriter<W>),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Sink<W> {
    fn new(format: Format, out: W) -> Result<Self, ExportError> {
        const BUFFER: usize = 64 * 1024;
        Ok(match format {
            Format::Ndjson => Sink::Ndjson(std::io::BufWriter::with_capacity(BUFFER, out)),
            Format::Csv => {
                let mut csv = csv::WriterBuilder::new()
                    .buffer_capacity(BUFFER)
                    .from_writer(out);
                csv.write_record(CSV_HEADER)?;
                Sink::Csv(Box::new(csv))
            }
        })
    }

    fn event(&mut self, row: &EventRow, pii: Option<PiiRecord>) -> Result<(), ExportError> {
        let at = clock::rfc3339(row.at);
        let event = row.chained(&at);
        match self {
            Sink::Ndjson(out) => {
                serde_json::to_writer(&mut *out, &line(&event, pii, row))
                    .map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(csv) => {
                let pii = pii
                    .map(|p| serde_json::to_string(&p).unwrap_or_default())
                    .unwrap_or_default();
                csv.write_record([
                    event.seq.to_string().as_str(),
                    event.id,
                    event.sender_id,
                    event.at,
                    event.kind,
                    event.consent_id.unwrap_or(""),
                    event.list.unwrap_or(""),
                    event.subject_key.unwrap_or(""),
                    event.data,
                    &pii,
                    event.pii_sha256.unwrap_or(""),
                    &row.prev_hash,
                    &row.hash,
                ])?;
            }
        }
        Ok(())
    }

    /// The closing row, then everything flushed.
    fn checkpoint(self, checkpoint: &Checkpoint) -> Result<(), ExportError> {
        match self {
            Sink::Ndjson(mut out) => {
                serde_json::to_writer(&mut out, &serde_json::json!({ "checkpoint": checkpoint }))
                    .map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            Sink::Csv(mut csv) => {
                let data = serde_json::to_string(checkpoint).unwrap_or_default();
                csv.write_record([
                    checkpoint.seq.to_string().as_str(),
                    "",
                    &checkpoint.sender_id,
                    &checkpoint.at,
                    "checkpoint",
                    "",
                    "",
                    "",
                    &data,
                    "",
                    "",
                    "",
                    &checkpoint.hash,
                ])?;
                csv.flush()?;
            }
        }
        Ok(())
    }
}
