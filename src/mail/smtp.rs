//! SMTP connections of our own, for `smtp://` and `smtp+starttls://`: lettre speaks the
//! protocol; the socket is ours, with `TCP_NODELAY`. lettre writes a message's body and then
//! its end-of-data `\r\n.\r\n` as two writes; under Nagle the second waits for the relay to
//! acknowledge the first, and a relay that delays its ACK until it has something to say
//! (most do, ~40 ms) turned every mail into a 50 ms round, ~20 mails/s per connection.
//! Idle connections are kept for the next mail; one idle for a while is checked with NOOP
//! first, so a relay's idle timeout does not cost a mail an attempt.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::Error;
use lettre::Message;

use super::transport::SendError;

/// A connection idle longer than this is checked with NOOP before it carries a mail.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(5);

pub struct SmtpPool {
    host: String,
    port: u16,
    starttls: bool,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    pub fn new(
        host: &str,
        port: u16,
        starttls: bool,
        credentials: Option<Credentials>,
        max_idle: usize,
    ) -> Self {
        Self {
            host: host.to_owned(),
            port,
            starttls,
            credentials,
            hello: ClientId::default(),
            timeout: Duration::from_secs(30),
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends one message over an idle connection or a new one; a connection that carried it
    /// cleanly goes back to the idle ones.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let mut connection = self.connection().await?;
        let sent = connection
            .send(message.envelope(), &message.formatted())
            .await
            .map_err(|e| {
                let reached = answered(&e);
                failed(e, reached)
            });
        if sent.is_ok() && !connection.has_broken() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < self.max_idle {
                idle.push((connection, Instant::now()));
            }
        }
        sent.map(|_| ())
    }

    async fn connection(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some((mut connection, since)) = taken else {
                break;
            };
            if connection.has_broken() {
                continue;
            }
            if since.elapsed() < CHECK_AFTER_IDLE || connection.test_connected().await {
                return Ok(connection);
            }
        }
        self.connect().await
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let address = (self.host.as_str(), self.port);
        let tcp = tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(address))
            .await
            .map_err(|_| io_failed(std::io::ErrorKind::TimedOut.into()))?
            .map_err(io_failed)?;
        tcp.set_nodelay(true).map_err(io_failed)?;
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                .await
                .map_err(unreached)?;
        if self.starttls {
            let tls = TlsParameters::new(self.host.clone()).map_err(unreached)?;
            connection
                .starttls(tls, &self.hello)
                .await
                .map_err(unreached)?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(unreached)?;
        }
        Ok(connection)
    }
}

/// A failed attempt as the worker sees it; lettre's own errors keep their permanence.
fn failed(error: Error, reached: bool) -> SendError {
    SendError {
        permanent: error.is_permanent(),
        reached,
        message: error.to_string(),
    }
}

/// The relay answered with an SMTP reply (not a broken or silent connection).
fn answered(error: &Error) -> bool {
    error.is_permanent() || error.is_transient()
}

/// No session could be opened (greeting, STARTTLS or AUTH failed): never this mail's fault,
/// so never permanent for it.
fn unreached(error: Error) -> SendError {
    SendError {
        permanent: false,
        ..failed(error, false)
    }
}

fn io_failed(error: std::io::Error) -> SendError {
    SendError {
        permanent: false,
        reached: false,
        message: format!("cannot connect to the relay: {error}"),
    }
}
