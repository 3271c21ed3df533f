//! A keep-alive HTTP/1.1 load generator for the benchmark programs, on hyper's client.
//!
//! Include it with `#[path = "load.rs"] mod load;`. Each of the `connections` tasks holds
//! one connection (`hyper::client::conn::http1`, the maintained HTTP/1.1 client under
//! reqwest, without reqwest's pool and redirect layers so the client costs little CPU when
//! it shares a small machine with the server under test) and sends the next request only
//! after it has read the whole previous response (no pipelining). hyper frames responses
//! (`Content-Length`, chunked, close), skips `1xx` interim responses and keeps the
//! connection alive; a connection that the server closes (or that fails) is opened again.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

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
    fn to_hyper(&self) -> Result<hyper::Request<Full<Bytes>>, &str> {
        let parts = self.0.as_ref()?;
        let mut request = hyper::Request::new(Full::new(parts.body.clone()));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.headers_mut() = parts.headers.clone();
        Ok(request)
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
    run_source(addr, Source::Fixed(request), connections, duration).await
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
    Fixed(Request),
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
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(addr).await?);
    }

    let source = Arc::new(source);
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = senders
        .into_iter()
        .map(|sender| tokio::spawn(worker(addr, sender, Arc::clone(&source), deadline)))
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

/// Opens one keep-alive connection; its driver runs as its own task until the connection
/// closes.
async fn connect(addr: SocketAddr) -> io::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one request and reads its whole body; the status.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<u16, hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
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
async fn worker(
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
    source: Arc<Source>,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::new();
    let mut sender = Some(sender);
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);

    loop {
        let open = match sender.as_mut() {
            Some(open) if !open.is_closed() => open,
            _ => {
                let connected = tokio::select! {
                    biased;
                    r = connect(addr) => r,
                    () = &mut sleep => break,
                };
                match connected {
                    Ok(fresh) => sender.insert(fresh),
                    Err(_) => {
                        tally.errors += 1;
                        sender = None;
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

        let made;
        let request = match &*source {
            Source::Fixed(request) => request,
            Source::Make { make, seq } => {
                made = make(seq.fetch_add(1, Ordering::Relaxed));
                &made
            }
        };
        let Ok(request) = request.to_hyper() else {
            tally.errors += 1;
            continue;
        };

        let sent = Instant::now();
        let outcome = tokio::select! {
            biased;
            r = exchange(open, request) => r,
            () = &mut sleep => break,
        };
        let done = Instant::now();
        if done > deadline {
            // Finished after the deadline: outside the measured window.
            break;
        }
        match outcome {
            Ok(status) => {
                tally.hist.record(done - sent);
                if (200..300).contains(&status) {
                    tally.ok += 1;
                } else {
                    tally.errors += 1;
                }
            }
            Err(_) => {
                tally.errors += 1;
                sender = None;
            }
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
