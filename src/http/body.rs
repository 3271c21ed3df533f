//! Request bodies before any handler sees them. Every body has a deadline (the streamed batch
//! check a limit on each pause instead), so a client sending a byte now and then cannot hold
//! a connection and a worker's attention. A JSON body that names a key twice is refused:
//! parsers disagree on which value wins, and a sender's log, a proxy's filter and Consentry
//! must agree on which address consented.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{Error, HttpMessage};
use futures_util::{Stream, StreamExt};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use tokio::time::{Instant, Sleep};

use super::error::ApiError;

/// What every body must keep to; app data of the server.
#[derive(Clone, Copy)]
pub struct BodyRules {
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// Middleware: reads JSON bodies whole (bounded in size and time) and refuses duplicate keys;
/// puts a deadline on every other body.
pub async fn guard_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let rules = req.app_data::<BodyRules>().copied();
    // Most requests (every GET) carry no body: no timer, no boxed stream for them.
    let Some(rules) = rules.filter(|_| has_body(&req)) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let payload = req.take_payload();
    if is_json(&req) {
        let bytes = match read_whole(payload, rules).await {
            Ok(bytes) => bytes,
            Err(error) => return Ok(req.error_response(error)),
        };
        if let Err(key) = duplicate_key(&bytes) {
            let error = ApiError::InvalidRequest(format!(
                "the JSON body names the key `{key}` more than once"
            ));
            return Ok(req.error_response(error));
        }
        req.set_payload(Payload::from(bytes));
    } else {
        // The batch check streams its body while it answers: a pause limit, not a deadline.
        let streamed = req.method() == Method::POST && req.path() == "/v1/check";
        let timed = Deadline::new(payload, rules.timeout, streamed);
        let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(timed);
        req.set_payload(Payload::from(boxed));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Whether the request announces a body: a non-zero `Content-Length` or any
/// `Transfer-Encoding` (HTTP/1.1 frames a body no other way).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(actix_web::http::header::TRANSFER_ENCODING)
        || headers
            .get(actix_web::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

fn is_json(req: &ServiceRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        }
        _ => false,
    }
}

/// Reads a body whole, bounded in size and time (also for handlers that read a body
/// themselves, such as complaint reports with their own size limit).
pub async fn read_whole(payload: Payload, rules: BodyRules) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    let mut timed = Deadline::new(payload, rules.timeout, false);
    while let Some(chunk) = timed.next().await {
        let chunk = chunk.map_err(|e| match e {
            PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                ApiError::RequestTimeout(rules.timeout)
            }
            other => ApiError::InvalidRequest(format!("cannot read the body: {other}")),
        })?;
        if body.len() + chunk.len() > rules.max_bytes {
            return Err(ApiError::PayloadTooLarge(rules.max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A body stream that fails with `TimedOut` once its deadline passes; with `idle`, the
/// deadline moves on with every chunk that arrives.
struct Deadline {
    inner: Payload,
    timer: Pin<Box<Sleep>>,
    period: Duration,
    idle: bool,
    done: bool,
}

impl Deadline {
    fn new(inner: Payload, period: Duration, idle: bool) -> Self {
        Self {
            inner,
            timer: Box::pin(tokio::time::sleep(period)),
            period,
            idle,
            done: false,
        }
    }
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if self.idle {
                    let next = Instant::now() + self.period;
                    self.timer.as_mut().reset(next);
                }
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(other) => {
                self.done = true;
                return Poll::Ready(other);
            }
            Poll::Pending => {}
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.done = true;
                let late = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                );
                Poll::Ready(Some(Err(PayloadError::Io(late))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `Err(key)` for the first object key that appears twice in one object, at any depth;
/// `Ok` also for text that is not JSON at all (the handler's parser says what is wrong).
fn duplicate_key(body: &[u8]) -> Result<(), String> {
    let found = RefCell::new(None);
    let mut parser = serde_json::Deserializer::from_slice(body);
    let _ = Unique(&found).deserialize(&mut parser);
    match found.into_inner() {
        Some(key) => Err(key),
        None => Ok(()),
    }
}

/// Walks any JSON value, keeping nothing but the first repeated key it meets.
#[derive(Clone, Copy)]
struct Unique<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                *self.0.borrow_mut() = Some(key.chars().take(64).collect());
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(self)?;
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::duplicate_key;

    #[test]
    fn a_key_named_twice_at_any_depth_is_found() {
        let twice = br#"{"list":"n","email":"a@example.jp","email":"b@example.jp"}"#;
        assert_eq!(duplicate_key(twice), Err("email".into()));
        let nested = br#"{"evidence":{"ip":"1.1.1.1","ip":"2.2.2.2"}}"#;
        assert_eq!(duplicate_key(nested), Err("ip".into()));
        let in_array = br#"[{"a":1},{"b":1,"b":2}]"#;
        assert_eq!(duplicate_key(in_array), Err("b".into()));
        // The same key in two sibling objects is fine.
        assert_eq!(duplicate_key(br#"[{"a":1},{"a":2}]"#), Ok(()));
        // Escapes that spell the same key are the same key.
        assert_eq!(
            duplicate_key(br#"{"email":1,"em\u0061il":2}"#),
            Err("email".into())
        );
        // Not JSON: left for the handler's parser to explain.
        assert_eq!(duplicate_key(b"{\"a\":"), Ok(()));
        assert_eq!(duplicate_key(b""), Ok(()));
    }
}
