//! A keep-alive HTTP/1.1 load generator for the benchmark programs, on hyper's client.
//!
//! Include it with `#[path = "load.rs"] mod load;`. Each of the `connections` tasks holds
//! one connection (`hyper::client::conn::http1`, the maintained HTTP/1.1 client under
//! reqwest, without reqwest's pool and redirect layers so the client costs little CPU when
//! it shares a small machine with the server under test) and sends the next request only
//! after it has read the whole previous response (no pipelining). hyper frames responses
//! (`Content-Length`, chunked, close), skips `1xx` interim responses and keeps the
//! connection alive; a connection that the server closes (or that fails) is opened again.
//! Each task polls its own connection future instead of spawning it, and drains bodies
//! without keeping them, so a request costs no task switch and no body buffer.
//! Latencies go into a fixed-size log-bucket histogram per connection.
//!
//! Counting:
//! - `requests`: complete responses with a `2xx` status;
//! - `errors`: complete responses with any other status, plus every transport
//!   failure (failed connect, reset, early close, malformed response);
//! - `p50`/`p99`: latency of every complete response, measured from just
//!   before the request is sent to the end of its body, at about 3 %
//!   resolution (32 buckets per power of two microseconds).
//!
//! A request still in flight at the deadline is abandoned and not counted.
//! Warm-up is the caller's job: call [`run`] once for a short time first.
//!
//! On a 2-core machine, consider driving the client from a `current_thread`
//! runtime on its own OS thread so that it uses at most one core.

#![allow(dead_code)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// What one load run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Complete responses with a 2xx status.
    pub requests: u64,
    /// Non-2xx responses plus transport failures (connect, reset, early close, bad framing).
    pub errors: u64,
    /// Wall time from the start of the run (all connections open) to its end.
    pub elapsed: Duration,
    /// Median latency of complete responses (zero when there were none).
    pub p50: Duration,
    /// 99th percentile latency of complete responses (zero when there were none).
    pub p99: Duration,
}

impl LoadReport {
    /// Successful (2xx) requests per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ok, {} errors in {:.2?}: {:.0} req/s, p50 {:?}, p99 {:?}",
            self.requests,
            self.errors,
            self.elapsed,
            self.rate(),
            self.p50,
            self.p99
        )
    }
}

/// One request to send over and over: method, path, headers and body, checked once when
/// built; an invalid one fails [`run`] and counts as an error in [`run_with`].
#[derive(Debug, Clone)]
pub struct Request(Result<Parts, String>);

#[derive(Debug, Clone)]
struct Parts {
    method: hyper::Method,
    uri: hyper::Uri,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Request {
    /// A hyper request with these parts; a made request is moved, not copied.
    fn into_hyper(self) -> Option<hyper::Request<Full<Bytes>>> {
        let parts = self.0.ok()?;
        let mut request = hyper::Request::new(Full::new(parts.body));
        *request.method_mut() = parts.method;
        *request.uri_mut() = parts.uri;
        *request.headers_mut() = parts.headers;
        Some(request)
    }
}

/// Runs `connections` keep-alive connections to `addr` for `duration`, each
/// sending `request` (from [`request`]) over and over.
///
/// # Errors
///
/// Fails when a first connection cannot be opened or `connections` is zero;
/// failures during the run are counted in [`LoadReport::errors`].
pub async fn run(
    addr: SocketAddr,
    request: Request,
    connections: usize,
    duration: Duration,
) -> io::Result<LoadReport> {
    if let Err(error) = &request.0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, error.clone()));
    }
    run_source(
        addr,
        Source::Fixed(Box::new(request)),
        connections,
        duration,
    )
    .await
}

/// Like [`run`], but each request is made by `make`, called with a sequence
/// number that is unique across all connections (0, 1, 2, ...).
///
/// # Errors
///
/// As for [`run`].
pub async fn run_with<F>(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    make: F,
) -> io::Result<LoadReport>
where
    F: Fn(u64) -> Request + Send + Sync + 'static,
{
    let source = Source::Make {
        make: Box::new(make),
        seq: AtomicU64::new(0),
    };
    run_source(addr, source, connections, duration).await
}

/// Builds a request. Adds `Host: localhost` unless `headers` has a `Host`; hyper adds
/// `Content-Length` (the body's length, 0 for a bodiless `POST`, `PUT` or `PATCH`).
#[must_use]
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Request {
    Request(parts(method, path, headers, body).map_err(|e| format!("{method} {path}: {e}")))
}

fn parts(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Parts, Box<dyn std::error::Error>> {
    let mut map = hyper::HeaderMap::new();
    for (name, value) in headers {
        let name = hyper::header::HeaderName::from_bytes(name.as_bytes())?;
        map.append(name, value.parse()?);
    }
    if !map.contains_key(hyper::header::HOST) {
        map.insert(hyper::header::HOST, "localhost".parse()?);
    }
    Ok(Parts {
        method: method.parse()?,
        uri: path.parse()?,
        headers: map,
        body: Bytes::copy_from_slice(body.unwrap_or_default()),
    })
}

// ---------------------------------------------------------------------------
// Driver

enum Source {
    Fixed(Box<Request>),
    Make {
        make: Box<dyn Fn(u64) -> Request + Send + Sync>,
        seq: AtomicU64,
    },
}

async fn run_source(
    addr: SocketAddr,
    source: Source,
    connections: usize,
    duration: Duration,
) -> io::Result<LoadReport> {
    if connections == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "load: connections must be at least 1",
        ));
    }
    // Open every connection first, so that a server that is not there fails
    // the run at once and connection set-up is not part of the measurement.
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(connect(addr).await?);
    }

    let source = Arc::new(source);
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = opened
        .into_iter()
        .map(|open| tokio::spawn(worker(addr, open, Arc::clone(&source), deadline)))
        .collect();

    let mut total = Tally::new();
    for handle in handles {
        let tally = handle.await.map_err(io::Error::other)?;
        total.merge(&tally);
    }
    let elapsed = start.elapsed();

    Ok(LoadReport {
        requests: total.ok,
        errors: total.errors,
        elapsed,
        p50: total.hist.percentile(0.50),
        p99: total.hist.percentile(0.99),
    })
}

/// One open keep-alive connection: the handle that sends requests and the connection
/// future that does its reading and writing.
struct Open {
    sender: SendRequest<Full<Bytes>>,
    connection: http1::Connection<TokioIo<TcpStream>, Full<Bytes>>,
}

/// Opens one keep-alive connection. Its connection future is polled by the worker's own
/// task (not spawned), so that a request and its response cost no task switches.
async fn connect(addr: SocketAddr) -> io::Result<Open> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    Ok(Open { sender, connection })
}

/// What became of one request.
enum Outcome {
    /// A complete response with this status; `closed` when the connection ended with it
    /// (e.g. `Connection: close`), so that the next request opens another.
    Status { status: u16, closed: bool },
    /// A transport failure (connect, reset, early close, bad framing): open another.
    Failed,
    /// The deadline passed first.
    Deadline,
}

/// Sends one request and reads its whole body, polling the connection meanwhile.
async fn exchange(
    open: &mut Open,
    request: hyper::Request<Full<Bytes>>,
    deadline: &mut Pin<&mut Sleep>,
) -> Outcome {
    let Open { sender, connection } = open;
    let response = async {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        // Drain the body frame by frame; nothing is kept.
        while let Some(frame) = body.frame().await {
            frame?;
        }
        Ok::<_, hyper::Error>(status)
    };
    tokio::pin!(response);
    let outcome = |r: Result<u16, hyper::Error>, closed| match r {
        Ok(status) => Outcome::Status { status, closed },
        Err(_) => Outcome::Failed,
    };
    tokio::select! {
        biased;
        r = &mut response => return outcome(r, false),
        () = deadline.as_mut() => return Outcome::Deadline,
        // The connection ended (closed by the server, or failed): what it delivered before
        // is still in the response's channel, and the response now finishes either way.
        _ = &mut *connection => {}
    }
    tokio::select! {
        biased;
        r = &mut response => outcome(r, true),
        () = deadline.as_mut() => Outcome::Deadline,
    }
}

struct Tally {
    ok: u64,
    errors: u64,
    hist: Histogram,
}

impl Tally {
    fn new() -> Self {
        Tally {
            ok: 0,
            errors: 0,
            hist: Histogram::new(),
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.hist.merge(&other.hist);
    }
}

/// One connection's loop: request, whole response, repeat until the deadline.
async fn worker(addr: SocketAddr, open: Open, source: Arc<Source>, deadline: Instant) -> Tally {
    let mut tally = Tally::new();
    let mut open = Some(open);
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);

    loop {
        let current = match open.as_mut() {
            Some(current) => current,
            None => {
                let connected = tokio::select! {
                    biased;
                    r = connect(addr) => r,
                    () = &mut sleep => break,
                };
                match connected {
                    Ok(fresh) => open.insert(fresh),
                    Err(_) => {
                        tally.errors += 1;
                        // Do not spin on a server that refuses connections.
                        tokio::select! {
                            biased;
                            () = &mut sleep => break,
                            () = tokio::time::sleep(Duration::from_millis(1)) => continue,
                        }
                    }
                }
            }
        };

        let request = match &*source {
            Source::Fixed(request) => Request::clone(request),
            Source::Make { make, seq } => make(seq.fetch_add(1, Ordering::Relaxed)),
        };
        let Some(request) = request.into_hyper() else {
            tally.errors += 1;
            continue;
        };

        let sent = Instant::now();
        let outcome = exchange(current, request, &mut sleep).await;
        let done = Instant::now();
        if done > deadline {
            // Finished after the deadline: outside the measured window.
            break;
        }
        match outcome {
            Outcome::Status { status, closed } => {
                tally.hist.record(done - sent);
                if (200..300).contains(&status) {
                    tally.ok += 1;
                } else {
                    tally.errors += 1;
                }
                if closed {
                    open = None;
                }
            }
            Outcome::Failed => {
                tally.errors += 1;
                open = None;
            }
            Outcome::Deadline => break,
        }
    }
    tally
}

// ---------------------------------------------------------------------------
// Latency histogram

/// Sub-buckets per power of two: 2^5 = 32, so about 3 % relative resolution.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for every `u64` microsecond value.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Fixed-size log-bucket histogram of latencies in microseconds.
struct Histogram {
    counts: Box<[u64]>,
    total: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
        }
    }

    fn index(us: u64) -> usize {
        if us < SUB {
            return us as usize;
        }
        let exp = 63 - us.leading_zeros(); // >= SUB_BITS
        let shift = exp - SUB_BITS;
        let sub = (us >> shift) - SUB; // 0..SUB
        ((u64::from(exp - SUB_BITS + 1) * SUB) + sub) as usize
    }

    /// Middle of the bucket's range, in microseconds.
    fn value(index: usize) -> u64 {
        let index = index as u64;
        if index < 2 * SUB {
            return index;
        }
        let shift = (index / SUB - 1) as u32;
        let low = (SUB + index % SUB) << shift;
        low + ((1u64 << shift) - 1) / 2
    }

    fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::index(us)] += 1;
        self.total += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// The latency at quantile `q` (0.0..=1.0); zero when empty.
    fn percentile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_micros(Self::value(index));
            }
        }
        Duration::ZERO
    }
}
