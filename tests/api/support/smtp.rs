//! A small, real SMTP server on loopback for the integration tests: it speaks enough ESMTP for
//! lettre (plain SMTP, pooled connections, optional AUTH PLAIN/LOGIN that always succeeds) and
//! keeps every message it receives so tests can read headers, bodies and links.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::MessageParser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How long [`SmtpServer::wait_for`] waits before giving up.
const WAIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often [`SmtpServer::wait_for`] looks at the mailbox.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// One message as received: the envelope and the DATA (dot-unstuffed, CRLF line ends).
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub raw: String,
}

impl ReceivedMail {
    fn parsed(&self) -> mail_parser::Message<'_> {
        MessageParser::default()
            .parse(self.raw.as_bytes())
            .unwrap_or_else(|| panic!("mail_parser could not parse the message:\n{}", self.raw))
    }

    /// The decoded value (RFC 2047 encoded words decoded, folding undone) of the first header
    /// called `name` (case-insensitive), or `None` when the message has no such header.
    pub fn header(&self, name: &str) -> Option<String> {
        let message = self.parsed();
        let wanted = name.to_ascii_lowercase();
        let header = message
            .headers()
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(&wanted))?;
        Some(match header.value.as_text() {
            Some(text) => text.to_owned(),
            None => message
                .header_raw(header.name.as_str())
                .unwrap_or_default()
                .trim()
                .to_owned(),
        })
    }

    /// The decoded text/plain body (transfer encoding and charset undone), or "" without one.
    pub fn text_body(&self) -> String {
        let message = self.parsed();
        let text = message.body_text(0).map(|t| t.into_owned());
        text.unwrap_or_default()
    }

    /// The decoded text/html body (transfer encoding and charset undone), or "" without one.
    pub fn html_body(&self) -> String {
        let message = self.parsed();
        let html = message.body_html(0).map(|t| t.into_owned());
        html.unwrap_or_default()
    }

    /// Every `http://` or `https://` URL in the decoded text body, in order.
    pub fn links(&self) -> Vec<String> {
        extract_links(&self.text_body())
    }
}

/// Finds URLs in text: a URL starts at `http://` or `https://` and runs until white space or
/// a character that cannot appear in one unescaped (`<`, `>`, `"`, ...); trailing sentence
/// punctuation and unbalanced closing brackets are left out.
fn extract_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    loop {
        let start = match (rest.find("http://"), rest.find("https://")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`' | '{' | '}' | '|')
            })
            .unwrap_or(candidate.len());
        let mut url = &candidate[..end];
        loop {
            let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?']);
            let trimmed = if (trimmed.ends_with(')')
                && trimmed.matches(')').count() > trimmed.matches('(').count())
                || (trimmed.ends_with(']')
                    && trimmed.matches(']').count() > trimmed.matches('[').count())
            {
                &trimmed[..trimmed.len() - 1]
            } else {
                trimmed
            };
            if trimmed.len() == url.len() {
                break;
            }
            url = trimmed;
        }
        let scheme_len = if url.starts_with("https://") { 8 } else { 7 };
        if url.len() > scheme_len {
            links.push(url.to_owned());
        }
        rest = &candidate[end.max(scheme_len)..];
    }
    links
}

/// A running SMTP server on 127.0.0.1. Dropping it shuts it down too (in the background);
/// [`SmtpServer::stop`] shuts it down and waits until the port and all connections are closed.
pub struct SmtpServer {
    port: u16,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    hold: Arc<AtomicBool>,
    shutdown: watch::Sender<bool>,
    acceptor: JoinHandle<()>,
}

impl SmtpServer {
    /// Starts a server on a free port.
    pub async fn start() -> SmtpServer {
        Self::start_on(0)
            .await
            .expect("could not start the test SMTP server on 127.0.0.1")
    }

    /// Starts a server on the given port (0 for a free one), with SO_REUSEADDR so that a port
    /// a stopped server used can be taken again right away.
    pub async fn start_on(port: u16) -> io::Result<SmtpServer> {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
        Self::listen(socket)
    }

    fn listen(socket: TcpSocket) -> io::Result<SmtpServer> {
        let listener = socket.listen(1024)?;
        let port = listener.local_addr()?.port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let hold = Arc::new(AtomicBool::new(false));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let acceptor = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&mails),
            Arc::clone(&hold),
            shutdown_rx,
        ));
        Ok(SmtpServer {
            port,
            mails,
            hold,
            shutdown,
            acceptor,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// While on, a received message is stored but its `250` is not sent: the sender is left
    /// waiting mid-delivery, as with a slow relay.
    pub fn hold_replies(&self, on: bool) {
        self.hold.store(on, Ordering::SeqCst);
    }

    /// The messages received so far, in arrival order.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages arrived and returns them all; panics after 15 s.
    pub async fn wait_for(&self, n: usize) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            if tokio::time::Instant::now() >= deadline {
                let summary: Vec<String> = mails
                    .iter()
                    .map(|mail| {
                        format!(
                            "  from <{}> to {:?}, subject {:?}",
                            mail.from,
                            mail.to,
                            mail.header("Subject")
                        )
                    })
                    .collect();
                panic!(
                    "test SMTP server on port {}: expected at least {n} mail(s) within {:?}, \
                     got {}:\n{}",
                    self.port,
                    WAIT_TIMEOUT,
                    mails.len(),
                    summary.join("\n")
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Closes the listener and every open client connection, and waits until they are closed.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.acceptor
            .await
            .expect("the test SMTP server's accept task panicked");
    }
}

/// An SMTP server that is down: its port is bound, so no other test can take it, but not
/// listening, so connections are refused until [`DownSmtpServer::start`].
pub struct DownSmtpServer {
    port: u16,
    socket: TcpSocket,
}

impl DownSmtpServer {
    /// Takes a free port and refuses connections on it.
    pub fn reserve() -> DownSmtpServer {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        DownSmtpServer { port, socket }
    }

    /// `smtp://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Comes up on the same port, never having let it go.
    pub fn start(self) -> SmtpServer {
        SmtpServer::listen(self.socket).unwrap()
    }
}

/// Resolves once the server is told to stop (or its handle is dropped).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn accept_loop(
    listener: TcpListener,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    hold: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let (mails, hold) = (Arc::clone(&mails), Arc::clone(&hold));
                    let mut shutdown = shutdown.clone();
                    connections.spawn(async move {
                        tokio::select! {
                            () = stopped(&mut shutdown) => {}
                            _ = handle_connection(stream, mails, hold) => {}
                        }
                    });
                }
            }
        }
    }
    drop(listener);
    // Every connection task sees the same signal and returns, dropping (closing) its socket.
    while connections.join_next().await.is_some() {}
}

/// Reads one line; `None` at EOF. The line ending (CRLF or bare LF) is removed.
async fn read_line(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(Some(line))
}

async fn reply(reader: &mut BufReader<TcpStream>, text: &str) -> io::Result<()> {
    let stream = reader.get_mut();
    stream.write_all(text.as_bytes()).await?;
    stream.flush().await
}

/// The address in `FROM:<a@b> SIZE=…` / `TO:<a@b>`: between `<` and `>`, else the first word
/// after the colon.
fn envelope_address(argument: &str) -> String {
    if let Some(open) = argument.find('<') {
        let inner = &argument[open + 1..];
        let close = inner.find('>').unwrap_or(inner.len());
        return inner[..close].to_owned();
    }
    let after_colon = argument.split_once(':').map_or(argument, |(_, rest)| rest);
    after_colon
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn handle_connection(
    stream: TcpStream,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    hold: Arc<AtomicBool>,
) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    reply(&mut reader, "220 localhost ESMTP test\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();

    while let Some(line) = read_line(&mut reader).await? {
        let line = String::from_utf8_lossy(&line).into_owned();
        let (verb, argument) = match line.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim()),
            None => (line.trim().to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "EHLO" => {
                reply(
                    &mut reader,
                    "250-localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                     250-SIZE 10485760\r\n250 AUTH PLAIN LOGIN\r\n",
                )
                .await?;
            }
            "HELO" => reply(&mut reader, "250 localhost\r\n").await?,
            "MAIL" => {
                from = Some(envelope_address(argument));
                to.clear();
                reply(&mut reader, "250 2.1.0 OK\r\n").await?;
            }
            "RCPT" => {
                to.push(envelope_address(argument));
                reply(&mut reader, "250 2.1.5 OK\r\n").await?;
            }
            "DATA" => {
                reply(&mut reader, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut raw = Vec::new();
                loop {
                    let Some(data_line) = read_line(&mut reader).await? else {
                        // The client went away in the middle of DATA: nothing is delivered.
                        return Ok(());
                    };
                    if data_line == b"." {
                        break;
                    }
                    let unstuffed = data_line.strip_prefix(b".").unwrap_or(&data_line);
                    raw.extend_from_slice(unstuffed);
                    raw.extend_from_slice(b"\r\n");
                }
                let mail = ReceivedMail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    raw: String::from_utf8_lossy(&raw).into_owned(),
                };
                mails.lock().unwrap().push(mail);
                while hold.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                reply(&mut reader, "250 2.0.0 OK: queued\r\n").await?;
            }
            "AUTH" => {
                let mut words = argument.split_whitespace();
                let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
                let initial_response = words.next();
                match (mechanism.as_str(), initial_response) {
                    ("PLAIN", Some(_)) => {}
                    ("PLAIN", None) => {
                        reply(&mut reader, "334 \r\n").await?;
                        if read_line(&mut reader).await?.is_none() {
                            return Ok(());
                        }
                    }
                    ("LOGIN", username) => {
                        if username.is_none() {
                            reply(&mut reader, "334 VXNlcm5hbWU6\r\n").await?;
                            if read_line(&mut reader).await?.is_none() {
                                return Ok(());
                            }
                        }
                        reply(&mut reader, "334 UGFzc3dvcmQ6\r\n").await?;
                        if read_line(&mut reader).await?.is_none() {
                            return Ok(());
                        }
                    }
                    _ => {
                        reply(
                            &mut reader,
                            "504 5.5.4 Unrecognized authentication type\r\n",
                        )
                        .await?;
                        continue;
                    }
                }
                reply(&mut reader, "235 2.7.0 Authentication successful\r\n").await?;
            }
            "RSET" => {
                from = None;
                to.clear();
                reply(&mut reader, "250 2.0.0 OK\r\n").await?;
            }
            "NOOP" => reply(&mut reader, "250 2.0.0 OK\r\n").await?,
            "QUIT" => {
                reply(&mut reader, "221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => reply(&mut reader, "502 5.5.2 Command not recognized\r\n").await?,
        }
    }
    Ok(())
}
