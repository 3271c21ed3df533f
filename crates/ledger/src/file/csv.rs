//! CSV exports: the header [`CSV_HEADER`], one row per event, the checkpoint row last;
//! checked row by row.

use std::io::Read;

use super::{check_record, Checked, Linker, Scratch};
use crate::chain::ChainedFields;
use crate::checkpoint::VerifyingKeys;
use crate::pii::PiiRecord;
use crate::verify::{Chain, EventRecord, Failure, Report};

/// The CSV header; `data` and `pii` hold JSON, an empty cell is null.
pub const CSV_HEADER: [&str; 13] = [
    "seq",
    "id",
    "sender_id",
    "at",
    "kind",
    "consent_id",
    "list",
    "subject_key",
    "data",
    "pii",
    "pii_sha256",
    "prev_hash",
    "hash",
];

pub(super) fn verify(input: impl Read, keys: Option<&VerifyingKeys>) -> std::io::Result<Report> {
    let mut reader = ::csv::Reader::from_reader(input);
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
    let mut record = ::csv::StringRecord::new();
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

fn check_csv_row(row: &::csv::StringRecord, scratch: &mut Scratch) -> Checked {
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
    check_record(
        &EventRecord {
            event: ChainedFields {
                seq,
                id: cell(1),
                sender_id: cell(2),
                at: cell(3),
                kind: cell(4),
                consent_id: nullable(5),
                list: nullable(6),
                subject_key: nullable(7),
                data: cell(8),
                pii_sha256: nullable(10),
            },
            pii: pii.as_ref().map(PiiRecord::as_ref),
            prev_hash: cell(11),
            hash: cell(12),
        },
        scratch,
    )
}
