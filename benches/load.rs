//! The benchmark programs' HTTP/1.1 load generator, on hyper's client connection.
//!
//! Include it with `#[path = "load.rs"] mod load;`. Each of the `connections`
//! tasks keeps one keep-alive connection (`hyper::client::conn::http1`) and
//! sends the next request only after it has read the whole previous response
//! (no pipelining). A connection that the server closes, or that fails, is
//! opened again. hyper's connection is used directly rather than a pooling
//! client, so the client spends as little of a small machine's CPU as it can.
//!
//! Counting:
//! - `requests`: complete responses with a `2xx` status (and, for a request
//!   made with [`Template::expecting`], a body that contains what it expects);
//! - `errors`: complete responses with any other status or body, plus every
//!   transport failure (failed connect, reset, early close, malformed response);
//! - `p50`/`p99`: latency of every complete response, from just before the
//!   request is handed to hyper to the end of its body (an HDR histogram with
//!   three significant figures).
//!
//! A request still in flight at the deadline is abandoned and not counted.
//! Warm-up is the caller's job: call [`run`] once for a short time first.
//! On a 2-core machine, drive the client from a `current_thread` runtime on
//! its own OS thread so that it uses at most one core.

#![allow(dead_code)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What one load run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Complete responses with a 2xx status and the expected body.
    pub requests: u64,
    /// Other responses plus transport failures (connect, reset, early close, bad framing).
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

/// One request, kept in the parts hyper needs so that it can be sent again and again.
#[derive(Clone)]
pub struct Template {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    expect: Option<&'static [u8]>,
}

impl Template {
    /// Counts a response as a success only when its body contains `needle` (a signup's
    /// `"confirmation":"queued"`, a check's `"allowed":true`), not for any `2xx`.
    #[must_use]
    pub fn expecting(mut self, needle: &'static str) -> Self {
        self.expect = Some(needle.as_bytes());
        self
    }

    fn build(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.path.parse().unwrap_or_default();
        let headers = request.headers_mut();
        headers.insert(HOST, HeaderValue::from_static("localhost"));
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        request
    }
}

/// A request to send: `path` with its query, headers as given, and a body if
/// any (hyper adds `Content-Length`; `Host` is `localhost` unless given).
///
/// # Panics
///
/// On a method, header name or header value that HTTP does not allow: the
/// benchmark programs write these by hand.
#[must_use]
pub fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Template {
    #[allow(clippy::expect_used)]
    let parse = |(name, value): &(&str, &str)| {
        (
            HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"),
            HeaderValue::from_str(value).expect("a valid header value"),
        )
    };
    #[allow(clippy::expect_used)]
    let method = Method::from_bytes(method.as_bytes()).expect("a valid method");
    Template {
        method,
        path: path.to_owned(),
        headers: headers.iter().map(parse).collect(),
        body: Bytes::copy_from_slice(body.unwrap_or_default()),
        expect: None,
    }
}

/// Runs `connections` keep-alive connections to `addr` for `duration`, each
/// sending `request` over and over.
///
/// # Errors
///
/// Fails when a first connection cannot be opened or `connections` is zero;
/// failures during the run are counted in [`LoadReport::errors`].
pub async fn run(
    addr: SocketAddr,
    request: Template,
    connections: usize,
    duration: Duration,
) -> io::Result<LoadReport> {
    run_with(addr, connections, duration, move |_| request.clone()).await
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
    F: Fn(u64) -> Template + Send + Sync + 'static,
{
    run_across(&[addr], connections, duration, make).await
}

/// Like [`run_with`], with the connections spread over several servers in
/// turn (connection `i` to `addrs[i % addrs.len()]`), measured as one run.
///
/// # Errors
///
/// As for [`run`], and when `addrs` is empty.
pub async fn run_across<F>(
    addrs: &[SocketAddr],
    connections: usize,
    duration: Duration,
    make: F,
) -> io::Result<LoadReport>
where
    F: Fn(u64) -> Template + Send + Sync + 'static,
{
    let source = Source::shared(make);
    let opened = open_all(addrs, connections, 0).await?;
    let start = Instant::now();
    let total = drive(opened, source, start + duration).await?;
    Ok(total.report(start.elapsed()))
}

/// Like [`run_across`], with the connections shared out over `threads` OS threads, each
/// driving its share from a one-thread runtime of its own: a generator that can use more
/// than one core, where one thread would itself be the limit.
///
/// # Errors
///
/// As for [`run_across`], and when a thread cannot be started.
pub fn run_across_threads<F>(
    addrs: &[SocketAddr],
    connections: usize,
    duration: Duration,
    threads: usize,
    make: F,
) -> io::Result<LoadReport>
where
    F: Fn(u64) -> Template + Send + Sync + 'static,
{
    let threads = threads.clamp(1, connections.max(1));
    let source = Source::shared(make);
    // Every thread opens its connections first; the run starts when all are open (each
    // thread's deadline then differs from the others' by the microseconds of a wake-up).
    let ready = Arc::new(std::sync::Barrier::new(threads + 1));
    let handles = (0..threads)
        .map(|t| {
            let (addrs, source, ready) = (addrs.to_vec(), source.clone(), ready.clone());
            let share = connections / threads + usize::from(t < connections % threads);
            std::thread::Builder::new().name(format!("load-{t}")).spawn(
                move || -> io::Result<Tally> {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            ready.wait();
                            return Err(error);
                        }
                    };
                    runtime.block_on(async move {
                        let opened = open_all(&addrs, share, t).await;
                        ready.wait();
                        let deadline = Instant::now() + duration;
                        drive(opened?, source, deadline).await
                    })
                },
            )
        })
        .collect::<io::Result<Vec<_>>>()?;
    ready.wait();
    let started = Instant::now();
    let mut total = Tally::new();
    for handle in handles {
        let tally = handle
            .join()
            .map_err(|_| io::Error::other("load: a generator thread panicked"))??;
        total.merge(&tally);
    }
    Ok(total.report(started.elapsed()))
}

/// Opens `connections` connections, the `i`-th to `addrs[(offset + i) % addrs.len()]`, so
/// that a server that is not there fails the run at once and connection set-up is not part
/// of the measurement.
async fn open_all(
    addrs: &[SocketAddr],
    connections: usize,
    offset: usize,
) -> io::Result<Vec<(SocketAddr, SendRequest<Full<Bytes>>)>> {
    if connections == 0 || addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "load: connections and servers must be at least 1",
        ));
    }
    let mut senders = Vec::with_capacity(connections);
    for i in 0..connections {
        let addr = addrs[(offset + i) % addrs.len()];
        senders.push((addr, connect(addr).await?));
    }
    Ok(senders)
}

/// Runs one worker per opened connection on this runtime until `deadline`.
async fn drive(
    senders: Vec<(SocketAddr, SendRequest<Full<Bytes>>)>,
    source: Arc<Source>,
    deadline: Instant,
) -> io::Result<Tally> {
    let handles: Vec<_> = senders
        .into_iter()
        .map(|(addr, sender)| tokio::spawn(worker(addr, sender, Arc::clone(&source), deadline)))
        .collect();
    let mut total = Tally::new();
    for handle in handles {
        total.merge(&handle.await.map_err(io::Error::other)?);
    }
    Ok(total)
}

struct Source {
    make: Box<dyn Fn(u64) -> Template + Send + Sync>,
    seq: AtomicU64,
}

impl Source {
    /// One sequence of requests, shared by every connection of a run.
    fn shared<F>(make: F) -> Arc<Self>
    where
        F: Fn(u64) -> Template + Send + Sync + 'static,
    {
        Arc::new(Source {
            make: Box::new(make),
            seq: AtomicU64::new(0),
        })
    }
}

async fn connect(addr: SocketAddr) -> io::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    // The connection task ends when the server closes or the sender is dropped.
    tokio::spawn(connection);
    Ok(sender)
}

struct Tally {
    ok: u64,
    errors: u64,
    latency: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        #[allow(clippy::expect_used)]
        let latency = Histogram::new(3).expect("three significant figures are allowed");
        Tally {
            ok: 0,
            errors: 0,
            latency,
        }
    }

    fn report(&self, elapsed: Duration) -> LoadReport {
        LoadReport {
            requests: self.ok,
            errors: self.errors,
            elapsed,
            p50: Duration::from_micros(self.latency.value_at_quantile(0.50)),
            p99: Duration::from_micros(self.latency.value_at_quantile(0.99)),
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.errors += other.errors;
        // Both histograms auto-resize, so adding cannot fail on range.
        let _ = self.latency.add(&other.latency);
    }
}

/// Sends one request and reads its whole body; whether it succeeded, if it all
/// arrived: a 2xx status and, when `expect` is given, a body that contains it.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
    expect: Option<&[u8]>,
) -> Result<bool, hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let mut body = response.into_body();
    let mut seen = Vec::new();
    while let Some(frame) = body.frame().await {
        if let (Some(data), Some(_)) = (frame?.data_ref(), expect) {
            seen.extend_from_slice(data);
        }
    }
    let expected = expect.is_none_or(|needle| seen.windows(needle.len()).any(|w| w == needle));
    Ok(status.is_success() && expected)
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
    let deadline = tokio::time::Instant::from_std(deadline);
    while tokio::time::Instant::now() < deadline {
        let Some(current) = sender.as_mut() else {
            match tokio::time::timeout_at(deadline, connect(addr)).await {
                Err(_) => break,
                Ok(Ok(opened)) => sender = Some(opened),
                Ok(Err(_)) => {
                    tally.errors += 1;
                    // Do not spin on a server that refuses connections.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            continue;
        };
        if current.is_closed() {
            // The server ended the keep-alive (e.g. `Connection: close`): open another.
            sender = None;
            continue;
        }
        let template = (source.make)(source.seq.fetch_add(1, Ordering::Relaxed));
        let request = template.build();
        let sent = Instant::now();
        let exchanged = exchange(current, request, template.expect);
        let Ok(outcome) = tokio::time::timeout_at(deadline, exchanged).await else {
            break;
        };
        match outcome {
            Ok(succeeded) => {
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                let _ = tally.latency.record(micros.max(1));
                if succeeded {
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
