//! `POST /v1/check`: a stream of addresses in (NDJSON `{"email": ...}` or text lines), a
//! stream of answers out, one per non-blank input line, in order. Lines are handled in
//! chunks on the blocking pool, four chunks in flight; answers the client has not taken yet
//! are held in memory up to `CONSENTRY_BATCH_HOLD_BYTES` and past it in a temporary file up
//! to `CONSENTRY_BATCH_SPOOL_BYTES` (see `batch_answers`), so memory stays bounded however
//! long the stream is and a client that reads only after sending gets every answer. The
//! batch is recorded as one `checked` ledger event named in the `Consentry-Check-Receipt`
//! header.

use std::collections::VecDeque;

use actix_web::web::{Bytes, BytesMut};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::task::JoinHandle;
use utoipa::IntoParams;

use super::auth::SenderKey;
use super::batch_answers::{Answers, Bounds, ChunkOut};
use super::batch_lines::{answer_chunk, parse_chunk, Format};
use super::error::{ApiError, Problem};
use super::lists::load_list;
use crate::domain::ids::{ListId, SenderId};
use crate::flows::check::{record_batch_receipt, BatchSummary};
use crate::flows::StoreError;
use crate::permits::Permit;
use crate::state::AppState;
use crate::views::check::batch_addresses;

const CHUNK_LINES: usize = 1000;
const MAX_LINE: usize = 4096;
/// Chunks of one batch at the database at once. While the pump waits for the oldest, it
/// reads no input, so with two the second core idled between chunks: four took a
/// 1,000,000-line batch at 1,000,000 subscriptions from 242–262 k to 275–281 k addresses/s on
/// 2 cores (curl). Across all batches, `AppState::batch_chunks` bounds them to half the pool.
const IN_FLIGHT: usize = 4;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    list: String,
}

#[utoipa::path(post, path = "/v1/check", tag = "check", params(BatchQuery),
    request_body(content((String = "application/x-ndjson"), (String = "text/plain")),
        description = "one `{\"email\": \"...\"}` per line (or text/plain, one address per line)"),
    responses((status = 200, content_type = "application/x-ndjson",
        description = "one `{\"email\", \"allowed\", \"reason\", \"consent_id\"?, \"unsubscribe_url\"?}` per line; header `Consentry-Check-Receipt` names the ledger event, written when the stream ends; a batch with no addresses checks nothing and records no event. Any HTTP/1.1 client works: answers a client has not read yet (because it sends its whole list first) are held, in memory up to `CONSENTRY_BATCH_HOLD_BYTES` and then in a temporary file up to `CONSENTRY_BATCH_SPOOL_BYTES`, and handed over in order when it reads"),
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
    let permit = state
        .batch_checks
        .try_acquire(&caller.sender_id)
        .ok_or(ApiError::RateLimited { retry_after: 5 })?;
    let receipt = uuid::Uuid::now_v7().to_string();
    let (tx, rx) = mpsc::channel::<Result<Bytes, actix_web::Error>>(IN_FLIGHT + 1);
    let job = Batch {
        state: state.into_inner(),
        sender_id: caller.sender_id.clone(),
        list_id: list.list.id.clone(),
        slug: list.list.slug.clone(),
        format,
        receipt: receipt.clone(),
        _permit: permit,
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
    sender_id: SenderId,
    list_id: ListId,
    slug: String,
    format: Format,
    receipt: String,
    /// This sender's turn, held until the last answer is sent or the client has gone.
    _permit: Permit,
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
        let mut complete = true;
        let http = &self.state.settings.http;
        let ends_by = tokio::time::Instant::now() + http.stream_max;
        let bounds = Bounds {
            memory: http.batch_hold_bytes,
            spool: http.batch_spool_bytes,
        };
        let mut answers = Answers::new(tx, bounds, http.stream_send_timeout);
        let mut input_done = false;
        while !input_done {
            if tokio::time::Instant::now() > ends_by {
                // Past its maximum duration: what was answered so far is the receipt's.
                complete = false;
                break;
            }
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
                let Ok(turn) = self.state.batch_chunks.clone().acquire_owned().await else {
                    // Closed only when the server shuts down.
                    complete = false;
                    break;
                };
                in_flight.push_back(self.spawn_chunk(std::mem::take(&mut lines), turn));
            }
            while in_flight.len() >= IN_FLIGHT || (input_done && !in_flight.is_empty()) {
                let Some(handle) = in_flight.pop_front() else {
                    break;
                };
                match handle.await {
                    Ok(Ok(out)) => {
                        if answers.push(out).await.is_err() {
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
                        answers
                            .fail(actix_web::error::ErrorServiceUnavailable(
                                "storage unavailable",
                            ))
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
        // Whatever was answered is offered, also when the input broke off or time ran out.
        if answers.finish().await.is_err() {
            complete = false;
        }
        self.record(answers.receipt(complete)).await;
    }

    /// Answers a chunk on the blocking pool; `turn` is held until it is done, also when the
    /// client has gone and nobody waits for it.
    fn spawn_chunk(
        &self,
        lines: Vec<Bytes>,
        turn: OwnedSemaphorePermit,
    ) -> JoinHandle<Result<ChunkOut, StoreError>> {
        let state = self.state.clone();
        let (sender_id, list_id, format) =
            (self.sender_id.clone(), self.list_id.clone(), self.format);
        self.state.db.spawn(move |conn| {
            let _turn = turn;
            let chunk = parse_chunk(&state, format, &lines);
            let verdicts = batch_addresses(conn, &sender_id, &list_id, &chunk.keys)?;
            Ok(answer_chunk(&state, &chunk.lines, verdicts))
        })
    }

    /// One `checked` event: the count and digest of exactly the answers that were sent. A
    /// batch that answered nothing checked nothing and leaves no event.
    async fn record(self, summary: BatchSummary) {
        if summary.count == 0 {
            return;
        }
        let (sender_id, receipt, slug) = (self.sender_id, self.receipt, self.slug);
        let result = self
            .state
            .db
            .run(move |conn| record_batch_receipt(conn, &sender_id, receipt, &slug, summary))
            .await;
        if let Err(error) = result {
            tracing::error!(%error, "cannot record batch check receipt");
        }
    }
}
