//! `POST /v1/check`: a stream of addresses in (NDJSON `{"email": ...}` or text lines), a
//! stream of answers out, one per non-blank input line, in order. Lines are handled in
//! chunks on the blocking pool, two chunks in flight, so memory stays constant however long
//! the stream is. The batch is recorded as one `checked` ledger event named in the
//! `Consentry-Check-Receipt` header.

use std::collections::{HashMap, HashSet, VecDeque};

use actix_web::web::{Bytes, BytesMut};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use utoipa::IntoParams;

use super::auth::SenderKey;
use super::check::{unsubscribe_url, verdict};
use super::error::{ApiError, Problem};
use super::lists::load_list;
use crate::db::ledger::NewEvent;
use crate::db::subscriptions::check_many;
use crate::db::{suppressions, write_transaction, StoreError};
use crate::domain::email::EmailAddress;
use crate::domain::event_kind::EventKind;
use crate::flows::record_event;
use crate::state::AppState;

const CHUNK_LINES: usize = 1000;
const MAX_LINE: usize = 4096;
const IN_FLIGHT: usize = 2;

#[derive(Deserialize, IntoParams)]
pub struct BatchQuery {
    list: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Ndjson,
    Text,
}

/// What one chunk of answers adds to the receipt.
struct ChunkOut {
    bytes: Bytes,
    lines: u64,
    allowed: u64,
}

#[utoipa::path(post, path = "/v1/check", tag = "check", params(BatchQuery),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "one `{\"email\": \"...\"}` per line (or text/plain, one address per line)"),
    responses((status = 200, content_type = "application/x-ndjson",
        description = "one `{\"email\", \"allowed\", \"reason\", \"consent_id\"?, \"unsubscribe_url\"?}` per line; header `Consentry-Check-Receipt` names the ledger event"),
        (status = 404, body = Problem), (status = 415, body = Problem)),
    security(("bearer" = [])))]
pub async fn check_batch(
    caller: SenderKey,
    state: web::Data<AppState>,
    query: web::Query<BatchQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = match content_type.split(';').next().map(str::trim) {
        Some("application/x-ndjson" | "application/ndjson" | "application/jsonl") => Format::Ndjson,
        Some("text/plain") => Format::Text,
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "application/x-ndjson or text/plain",
            ))
        }
    };
    let list = load_list(&state, &caller.sender_id, &query.list).await?;
    let receipt = uuid::Uuid::now_v7().to_string();
    let (tx, rx) = mpsc::channel::<Result<Bytes, actix_web::Error>>(IN_FLIGHT + 1);
    let job = Batch {
        state: state.into_inner(),
        sender_id: caller.sender_id.clone(),
        list_id: list.list.id.clone(),
        slug: list.list.slug.clone(),
        format,
        receipt: receipt.clone(),
    };
    // The payload is tied to this worker thread, so the pump is a local task.
    actix_web::rt::spawn(job.pump(payload, tx));
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header(("Consentry-Check-Receipt", receipt))
        .streaming(super::channel_body(rx)))
}

struct Batch {
    state: std::sync::Arc<AppState>,
    sender_id: String,
    list_id: String,
    slug: String,
    format: Format,
    receipt: String,
}

impl Batch {
    async fn pump(
        self,
        mut payload: web::Payload,
        tx: mpsc::Sender<Result<Bytes, actix_web::Error>>,
    ) {
        let mut pending = BytesMut::new();
        let mut lines: Vec<Bytes> = Vec::with_capacity(CHUNK_LINES);
        let mut in_flight: VecDeque<JoinHandle<Result<ChunkOut, StoreError>>> = VecDeque::new();
        let mut digest = Sha256::new();
        let (mut count, mut allowed, mut complete) = (0u64, 0u64, true);

        let mut input_done = false;
        while !input_done {
            match payload.next().await {
                Some(Ok(bytes)) => pending.extend_from_slice(&bytes),
                Some(Err(_)) => {
                    complete = false;
                    input_done = true;
                }
                None => input_done = true,
            }
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                lines.push(pending.split_to(end + 1).freeze());
            }
            if pending.len() > MAX_LINE {
                // One endless line: answer it as invalid and drop it.
                lines.push(pending.split().freeze().slice(..MAX_LINE));
            }
            if input_done && !pending.is_empty() {
                lines.push(pending.split().freeze());
            }
            if lines.len() >= CHUNK_LINES || (input_done && !lines.is_empty()) {
                in_flight.push_back(self.spawn_chunk(std::mem::take(&mut lines)));
            }
            while in_flight.len() >= IN_FLIGHT || (input_done && !in_flight.is_empty()) {
                let Some(handle) = in_flight.pop_front() else {
                    break;
                };
                match handle.await {
                    Ok(Ok(out)) => {
                        digest.update(&out.bytes);
                        count += out.lines;
                        allowed += out.allowed;
                        if tx.send(Ok(out.bytes)).await.is_err() {
                            complete = false;
                            input_done = true;
                            in_flight.clear();
                        }
                    }
                    Ok(Err(error)) => {
                        tracing::error!(%error, "batch check chunk failed");
                        complete = false;
                        input_done = true;
                        in_flight.clear();
                        let _ = tx
                            .send(Err(actix_web::error::ErrorServiceUnavailable(
                                "storage unavailable",
                            )))
                            .await;
                    }
                    Err(_) => {
                        complete = false;
                        input_done = true;
                        in_flight.clear();
                    }
                }
            }
        }
        self.record(count, allowed, hex::encode(digest.finalize()), complete)
            .await;
    }

    fn spawn_chunk(&self, lines: Vec<Bytes>) -> JoinHandle<Result<ChunkOut, StoreError>> {
        let state = self.state.clone();
        let (sender_id, list_id, format) =
            (self.sender_id.clone(), self.list_id.clone(), self.format);
        tokio::task::spawn_blocking(move || {
            answer_chunk(&state, &sender_id, &list_id, format, &lines)
        })
    }

    /// One `checked` event: the count and digest of exactly the answers that were sent.
    async fn record(self, count: u64, allowed: u64, results_sha256: String, complete: bool) {
        let (sender_id, receipt, slug) = (self.sender_id, self.receipt, self.slug);
        let result = self
            .state
            .db
            .run(move |conn| {
                write_transaction(conn, |conn| {
                    let event = NewEvent {
                        id: Some(receipt),
                        list_slug: Some(&slug),
                        ..NewEvent::new(
                            EventKind::Checked,
                            json!({ "count": count, "allowed": allowed, "results_sha256": results_sha256, "complete": complete }),
                        )
                    };
                    record_event(conn, &sender_id, event, crate::clock::now()).map(|_| ())
                })
            })
            .await;
        if let Err(error) = result {
            tracing::error!(%error, "cannot record batch check receipt");
        }
    }
}

/// Parses, looks up and answers one chunk of lines (blank lines are skipped).
fn answer_chunk(
    state: &AppState,
    sender_id: &str,
    list_id: &str,
    format: Format,
    lines: &[Bytes],
) -> Result<ChunkOut, StoreError> {
    let hasher = &state.secrets.hasher;
    let parsed: Vec<(String, Option<String>)> = lines
        .iter()
        .filter_map(|line| {
            let text = String::from_utf8_lossy(line);
            let text = text.trim();
            (!text.is_empty()).then(|| parse_line(text, format))
        })
        .map(|(shown, email)| {
            let key = email.as_ref().map(|e| hasher.address_key(e));
            (shown, key)
        })
        .collect();
    let keys: Vec<String> = parsed.iter().filter_map(|(_, k)| k.clone()).collect();
    let mut conn = state.db.get()?;
    let rows: HashMap<String, _> = check_many(&mut conn, sender_id, list_id, &keys)?
        .into_iter()
        .map(|r| (r.address_key.clone(), r))
        .collect();
    let missing: Vec<String> = keys
        .iter()
        .filter(|k| !rows.contains_key(*k))
        .cloned()
        .collect();
    let suppressed: HashSet<String> = if missing.is_empty() {
        HashSet::new()
    } else {
        suppressions::suppressed_among(&mut conn, sender_id, &missing)?
            .into_iter()
            .collect()
    };
    drop(conn);
    let mut out = Vec::with_capacity(parsed.len() * 96);
    let mut allowed = 0;
    for (shown, key) in &parsed {
        let line = match key {
            None => json!({ "email": shown, "allowed": false, "reason": "invalid_email" }),
            Some(key) => {
                let v = verdict(rows.get(key).cloned(), suppressed.contains(key));
                let mut line = json!({ "email": shown, "allowed": v.allowed, "reason": v.reason });
                if let Some(row) = &v.row {
                    line["consent_id"] = row.consent_id.clone().into();
                    if v.allowed {
                        allowed += 1;
                        line["unsubscribe_url"] = unsubscribe_url(state, &row.consent_id).into();
                    }
                }
                line
            }
        };
        // serde_json::Value cannot fail to serialise.
        let _ = serde_json::to_writer(&mut out, &line);
        out.push(b'\n');
    }
    Ok(ChunkOut {
        bytes: Bytes::from(out),
        lines: parsed.len() as u64,
        allowed,
    })
}

/// (what to echo as `email`, the parsed address if valid).
fn parse_line(text: &str, format: Format) -> (String, Option<EmailAddress>) {
    let raw = match format {
        Format::Text => Some(text.to_owned()),
        Format::Ndjson => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("email").and_then(|e| e.as_str()).map(str::to_owned)),
    };
    match raw {
        Some(raw) => match EmailAddress::parse(&raw) {
            Ok(email) => (email.as_str().to_owned(), Some(email)),
            Err(_) => (raw, None),
        },
        None => (text.chars().take(256).collect(), None),
    }
}
