//! `/v1/audit/*` (auditor keys) and the public signing keys: the streamed export of a
//! sender's ledger, its online verification, a signed checkpoint of the current head.

use std::io::Write;

use actix_web::web::Bytes;
use actix_web::{http::header, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::auth::AuditorKey;
use super::error::{ApiError, Problem};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::export::{write_export, Format};
use crate::audit::stored::{sign_head, verify_chain};
use crate::audit::verify::Report;
use crate::clock;
use crate::domain::ids::SenderId;
use crate::flows::export::{record_export, ExportRequest};
use crate::permits::Permit;
use crate::state::AppState;

/// The largest `after_seq` and `limit` (written out in `EventsQuery`'s `maximum`, which
/// takes only a literal).
const MAX_SEQ: i64 = (1 << 62) - 1;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Export events with a greater seq (default 0: from the start of the chain).
    #[param(minimum = 0, maximum = 4611686018427387903i64)]
    after_seq: Option<i64>,
    /// At most this many events.
    #[param(minimum = 1, maximum = 4611686018427387903i64)]
    limit: Option<i64>,
    /// `ndjson` (default) or `csv`.
    #[param(pattern = "^(ndjson|csv)$")]
    format: Option<String>,
}

/// Streams the sender's events in seq order, then a signed checkpoint of the last one. The
/// export is itself recorded as an `exported` event first, and included when no `limit` cuts
/// it off.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(EventsQuery),
    responses((status = 200, content((String = "application/x-ndjson"), (String = "text/csv")),
        description = "one event per line (`seq`, `id`, `sender_id`, `at`, `kind`, `consent_id`, `list`, `subject_key`, `data`, `pii` or null, `pii_sha256`, `prev_hash`, `hash`), then `{\"checkpoint\": {...}}`; CSV with `format=csv`. Headers `Consentry-Export-Event` and `Consentry-Export-Range`."),
        (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 429, description = "as many exports and verifications as this instance runs at once are running", body = Problem)),
    security(("bearer" = [])))]
pub async fn export_events(
    caller: AuditorKey,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let after_seq = query.after_seq.unwrap_or(0);
    // Both bounded by 2^62 - 1 (as the document says), so `after_seq + limit` is always a
    // sequence number: an overflow would name a bogus range.
    let in_range = |v: i64, least: i64| (least..=MAX_SEQ).contains(&v);
    if !in_range(after_seq, 0) || query.limit.is_some_and(|l| !in_range(l, 1)) {
        return Err(ApiError::InvalidRequest(
            "`after_seq` must be 0 to 2^62 - 1 and `limit` 1 to 2^62 - 1".into(),
        ));
    }
    let format = match query.format.as_deref() {
        None => Format::Ndjson,
        Some(raw) => Format::parse(raw)
            .ok_or_else(|| ApiError::InvalidRequest("`format` must be ndjson or csv".into()))?,
    };
    let permit = scan_permit(&state, &caller.sender_id)?;
    let request = ExportRequest {
        after_seq,
        limit: query.limit,
        format,
        actor: json!({ "channel": "api", "key_id": caller.key_id, "role": "auditor" }),
    };
    let sender_id = caller.sender_id.clone();
    let recorded = state
        .db
        .run(move |conn| record_export(conn, &sender_id, &request, clock::now()))
        .await?;
    let Some((range, event)) = recorded else {
        return Err(ApiError::InvalidRequest(
            "`after_seq` is past the end of the chain".into(),
        ));
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let (db, sender_id) = (state.db.clone(), caller.sender_id.clone());
    let state = state.into_inner();
    let out = ChannelWriter {
        tx: tx.clone(),
        runtime: tokio::runtime::Handle::current(),
        send_timeout: state.settings.http.stream_send_timeout,
        ends_by: std::time::Instant::now() + state.settings.http.stream_max,
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let written = db
            .scan_connection()
            .map_err(Into::into)
            .and_then(|mut conn| {
                let keys = &state.secrets.signing_keys;
                write_export(&mut conn, &sender_id, range, format, keys, out, |_| {})
            });
        if let Err(error) = written {
            tracing::warn!(%error, "export stopped early");
            // The client sees a broken transfer and a file without its checkpoint.
            let _ = tx.try_send(Err(std::io::Error::other("export stopped early")));
        }
    });
    let filename = format!(
        "consentry-{}-{}-{}.{}",
        caller.sender_id,
        range.after_seq,
        range.through_seq,
        format.extension()
    );
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header(("Consentry-Export-Event", event.id))
        .insert_header((
            "Consentry-Export-Range",
            format!("{}..{}", range.after_seq, range.through_seq),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(super::channel_body(rx)))
}

/// A turn to scan a whole chain; when this sender holds all of its turns, or the instance is
/// full, 429 with `Retry-After`.
fn scan_permit(state: &AppState, sender_id: &SenderId) -> Result<Permit, ApiError> {
    state
        .scans
        .try_acquire(sender_id)
        .ok_or(ApiError::RateLimited { retry_after: 5 })
}

/// Hands what the exporter writes to the response body, a chunk at a time. Fails, and so
/// stops the export and gives its turn back, once the client has gone, has not taken a
/// chunk within the send timeout, or the export has run past its maximum duration.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    runtime: tokio::runtime::Handle,
    send_timeout: std::time::Duration,
    ends_by: std::time::Instant,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::io::{Error, ErrorKind};
        if std::time::Instant::now() > self.ends_by {
            return Err(Error::new(
                ErrorKind::TimedOut,
                "export ran past its maximum duration",
            ));
        }
        let chunk = Ok(Bytes::copy_from_slice(buf));
        // This runs on a blocking thread, where waiting on the runtime is allowed.
        self.runtime
            .block_on(self.tx.send_timeout(chunk, self.send_timeout))
            .map_err(|e| match e {
                mpsc::error::SendTimeoutError::Timeout(_) => {
                    Error::new(ErrorKind::TimedOut, "the client stopped reading")
                }
                mpsc::error::SendTimeoutError::Closed(_) => {
                    Error::new(ErrorKind::BrokenPipe, "client gone")
                }
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Recomputes the sender's whole chain from the database: hashes, seq continuity, links,
/// personal data against its digests, the head row and every stored signed checkpoint.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = Report, description = "`ok: false` names `first_bad_seq` and the reason"),
              (status = 403, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn verify(
    caller: AuditorKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let _permit = scan_permit(&state, &caller.sender_id)?;
    let keys = state.secrets.signing_keys.verifying_keys();
    let sender_id = caller.sender_id.clone();
    let report = state
        .db
        .scan(move |conn| verify_chain(conn, &sender_id, &keys))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Signs the chain's current head (or returns the checkpoint already stored for it).
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, body = Checkpoint), (status = 404, description = "the chain has no events yet", body = Problem)),
    security(("bearer" = [])))]
pub async fn checkpoint(
    caller: AuditorKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sender_id = caller.sender_id.clone();
    let signer = state.clone().into_inner();
    let signed = state
        .db
        .run(move |conn| sign_head(conn, &sender_id, &signer.secrets.signing_keys))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(signed))
}

/// The public keys that verify checkpoints, as a JSON Web Key Set (Ed25519, RFC 8037).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "audit",
    responses((status = 200, description = "`{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"kid\", \"x\"}]}`")))]
pub async fn signing_keys(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.secrets.signing_keys.jwks())
}
