//! A small HTTP/1.1 keep-alive load generator for the benchmark programs.
//!
//! Include it with `#[path = "load.rs"] mod load;`. It is written on raw
//! `tokio::net::TcpStream` so that the client costs as little CPU as possible
//! when it shares a small machine with the server under test: one `write` and
//! (usually) one `read` per request, one reusable read buffer per connection,
//! no allocation per request for [`run`], and a fixed-size log-bucket latency
//! histogram per connection instead of a growing list of samples.
//!
//! Each of the `connections` tasks keeps one connection open and sends the next
//! request only after it has read the whole previous response (no pipelining).
//! Responses are framed by `Content-Length`, `Transfer-Encoding: chunked`, or
//! the close of the connection; `1xx` interim responses are skipped, and
//! responses to `HEAD` and `204`/`304` responses have no body. A connection
//! that the server closes (or that fails) is opened again.
//!
//! Counting:
//! - `requests`: complete responses with a `2xx` status;
//! - `errors`: complete responses with any other status, plus every transport
//!   failure (failed connect, reset, early close, malformed response);
//! - `p50`/`p99`: latency of every complete response, measured from just
//!   before the request is written to the end of its response, at about 3 %
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
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// Runs `connections` keep-alive connections to `addr` for `duration`, each
/// sending the complete raw `request` (e.g. from [`request`]) over and over.
///
/// # Errors
///
/// Fails when a first connection cannot be opened or `connections` is zero;
/// failures during the run are counted in [`LoadReport::errors`].
pub async fn run(
    addr: SocketAddr,
    request: Vec<u8>,
    connections: usize,
    duration: Duration,
) -> io::Result<LoadReport> {
    run_source(addr, Source::Fixed(request), connections, duration).await
}

/// Like [`run`], but each request's raw bytes are made by `make`, called with a
/// sequence number that is unique across all connections (0, 1, 2, ...).
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
    F: Fn(u64) -> Vec<u8> + Send + Sync + 'static,
{
    let source = Source::Make {
        make: Box::new(make),
        seq: AtomicU64::new(0),
    };
    run_source(addr, source, connections, duration).await
}

/// Builds a raw HTTP/1.1 request.
///
/// Adds `Host: localhost` unless `headers` has a `Host`, and `Content-Length`
/// unless `headers` has one: the body's length, or 0 for a bodiless `POST`,
/// `PUT` or `PATCH`.
#[must_use]
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let body = body.unwrap_or_default();
    let headers_len: usize = headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(80 + method.len() + path.len() + headers_len + body.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !has("host") {
        out.extend_from_slice(b"Host: localhost\r\n");
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let wants_length = !body.is_empty()
        || ["POST", "PUT", "PATCH"]
            .iter()
            .any(|m| method.eq_ignore_ascii_case(m));
    if wants_length && !has("content-length") {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

// ---------------------------------------------------------------------------
// Driver

enum Source {
    Fixed(Vec<u8>),
    Make {
        make: Box<dyn Fn(u64) -> Vec<u8> + Send + Sync>,
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
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        streams.push(connect(addr).await?);
    }

    let source = Arc::new(source);
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = streams
        .into_iter()
        .map(|stream| tokio::spawn(worker(addr, stream, Arc::clone(&source), deadline)))
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

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
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
    stream: TcpStream,
    source: Arc<Source>,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::new();
    let mut conn = Conn::new(stream);
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);

    loop {
        if conn.stream.is_none() {
            let connected = tokio::select! {
                biased;
                r = connect(addr) => r,
                () = &mut sleep => break,
            };
            match connected {
                Ok(stream) => conn.reset(stream),
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

        let made;
        let req: &[u8] = match &*source {
            Source::Fixed(bytes) => bytes,
            Source::Make { make, seq } => {
                made = make(seq.fetch_add(1, Ordering::Relaxed));
                &made
            }
        };
        let is_head = req.starts_with(b"HEAD ");

        let sent = Instant::now();
        let outcome = tokio::select! {
            biased;
            r = conn.exchange(req, is_head) => r,
            () = &mut sleep => break,
        };
        let done = Instant::now();
        if done > deadline {
            // Finished after the deadline: outside the measured window.
            break;
        }
        match outcome {
            Ok(head) => {
                tally.hist.record(done - sent);
                if (200..300).contains(&head.status) {
                    tally.ok += 1;
                } else {
                    tally.errors += 1;
                }
                if !head.keep_alive {
                    conn.stream = None;
                }
            }
            Err(_) => {
                tally.errors += 1;
                conn.stream = None;
            }
        }
    }
    tally
}

// ---------------------------------------------------------------------------
// Connection and response parsing

const INITIAL_BUF: usize = 16 * 1024;
/// Largest response head (status line and headers) or chunk-size line accepted.
const MAX_BUF: usize = 1024 * 1024;

struct Conn {
    stream: Option<TcpStream>,
    /// Read buffer; `buf[start..end]` holds received bytes not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed mid-response",
    )
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Conn {
            stream: Some(stream),
            buf: vec![0; INITIAL_BUF],
            start: 0,
            end: 0,
        }
    }

    fn reset(&mut self, stream: TcpStream) {
        self.stream = Some(stream);
        self.start = 0;
        self.end = 0;
    }

    /// Writes one request and reads its whole response.
    async fn exchange(&mut self, req: &[u8], is_head: bool) -> io::Result<Head> {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected"))?;
        stream.write_all(req).await?;
        self.read_response(is_head).await
    }

    /// Reads more bytes into the buffer; returns how many (0 at end of stream).
    /// Offsets relative to `start` stay valid; absolute ones do not.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_BUF {
                let len = (self.buf.len() * 2).min(MAX_BUF);
                self.buf.resize(len, 0);
            } else {
                return Err(invalid("response head or chunk line too large"));
            }
        }
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected"))?;
        let n = stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    async fn read_response(&mut self, is_head: bool) -> io::Result<Head> {
        loop {
            let head_len = self.read_head().await?;
            let head = parse_head(&self.buf[self.start..self.start + head_len], is_head)?;
            self.start += head_len;
            if (100..200).contains(&head.status) {
                if head.status == 101 {
                    return Err(invalid("101 Switching Protocols is not supported"));
                }
                continue; // interim response; the real one follows
            }
            match head.framing {
                Framing::Empty => {}
                Framing::Length(n) => self.skip(n).await?,
                Framing::Chunked => self.skip_chunked().await?,
                Framing::UntilClose => loop {
                    self.start = self.end;
                    if self.fill().await? == 0 {
                        break;
                    }
                },
            }
            return Ok(head);
        }
    }

    /// Waits for a complete head; returns its length including the blank line.
    async fn read_head(&mut self) -> io::Result<usize> {
        let mut scanned: usize = 0; // relative to `start`
        loop {
            let from = self.start + scanned.saturating_sub(3);
            if let Some(i) = find_crlfcrlf(&self.buf[from..self.end]) {
                return Ok(from + i + 4 - self.start);
            }
            scanned = self.end - self.start;
            if self.fill().await? == 0 {
                return Err(if scanned == 0 {
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before the response",
                    )
                } else {
                    eof()
                });
            }
        }
    }

    /// Consumes `n` body bytes without keeping them.
    async fn skip(&mut self, mut n: u64) -> io::Result<()> {
        loop {
            let avail = (self.end - self.start) as u64;
            let take = avail.min(n);
            // `take <= avail`, which came from a usize.
            self.start += take as usize;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(eof());
            }
        }
    }

    /// Consumes one line; returns its absolute range without the line end,
    /// valid until the next `fill`.
    async fn take_line(&mut self) -> io::Result<Range<usize>> {
        let mut scanned: usize = 0; // relative to `start`
        loop {
            let from = self.start + scanned;
            if let Some(i) = self.buf[from..self.end].iter().position(|&b| b == b'\n') {
                let newline = from + i;
                let line_end = if newline > self.start && self.buf[newline - 1] == b'\r' {
                    newline - 1
                } else {
                    newline
                };
                let line = self.start..line_end;
                self.start = newline + 1;
                return Ok(line);
            }
            scanned = self.end - self.start;
            if self.fill().await? == 0 {
                return Err(eof());
            }
        }
    }

    /// Consumes a chunked body, trailers included.
    async fn skip_chunked(&mut self) -> io::Result<()> {
        loop {
            let line = self.take_line().await?;
            let size = parse_chunk_size(&self.buf[line])?;
            if size == 0 {
                break;
            }
            self.skip(size).await?;
            if !self.take_line().await?.is_empty() {
                return Err(invalid("chunk data not followed by CRLF"));
            }
        }
        // Trailer fields, up to the blank line.
        while !self.take_line().await?.is_empty() {}
        Ok(())
    }
}

fn find_crlfcrlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

fn parse_chunk_size(line: &[u8]) -> io::Result<u64> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() {
        return Err(invalid("empty chunk size"));
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = char::from(b)
            .to_digit(16)
            .ok_or_else(|| invalid("bad chunk size"))?;
        acc.checked_mul(16)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or_else(|| invalid("chunk size overflows"))
    })
}

fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Parses a response head (`HTTP/1.x NNN reason` and header lines).
fn parse_head(head: &[u8], is_head_request: bool) -> io::Result<Head> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let status_line = lines.next().unwrap_or_default();
    let (minor, status) = match status_line {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor, b' ', s0, s1, s2, rest @ ..]
            if minor.is_ascii_digit()
                && [s0, s1, s2].iter().all(|b| b.is_ascii_digit())
                && (rest.is_empty() || rest[0] == b' ') =>
        {
            let status =
                u16::from(s0 - b'0') * 100 + u16::from(s1 - b'0') * 10 + u16::from(s2 - b'0');
            (minor - b'0', status)
        }
        _ => return Err(invalid("bad status line")),
    };

    let mut content_length = None;
    let mut transfer_encoding = None;
    let mut close = false;
    let mut keep_alive_token = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| invalid("header line without a colon"))?;
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(value).ok_or_else(|| invalid("bad Content-Length"))?;
            if content_length.is_some_and(|m| m != n) {
                return Err(invalid("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Chunked only counts as the last coding applied.
            let last = value
                .rsplit(|&b| b == b',')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            transfer_encoding = Some(last.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }

    let framing =
        if is_head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            Framing::Empty
        } else {
            match (transfer_encoding, content_length) {
                (Some(true), _) => Framing::Chunked,
                (Some(false), _) => Framing::UntilClose,
                (None, Some(n)) => Framing::Length(n),
                (None, None) => Framing::UntilClose,
            }
        };
    let keep_alive = framing != Framing::UntilClose && !close && (minor >= 1 || keep_alive_token);
    Ok(Head {
        status,
        framing,
        keep_alive,
    })
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
