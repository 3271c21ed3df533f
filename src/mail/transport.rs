//! Where mail goes, from `CONSENTRY_MAIL_URL`: files (`file://DIR`, one `.eml` per mail) or
//! SMTP (`smtp://` plain for a local relay, `smtp+starttls://`, `smtps://`), pooled.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::smtp::SmtpPool;

pub enum Transport {
    File(AsyncFileTransport<Tokio1Executor>),
    /// `smtp://` and `smtp+starttls://`: connections of our own, with `TCP_NODELAY`.
    Smtp(SmtpPool),
    /// `smtps://` (TLS from the first byte): lettre's pooled transport.
    Smtps(AsyncSmtpTransport<Tokio1Executor>),
}

/// A failed send, classified for retry decisions. The text may name the recipient, so it is
/// stored with the job, never logged.
#[derive(Debug)]
pub struct SendError {
    pub permanent: bool,
    /// The relay answered: a session was open. `false` when no connection or session could
    /// be opened, which every mail in the queue would meet alike (see `mail::relay`).
    pub reached: bool,
    pub message: String,
}

impl Transport {
    /// Builds the transport; must run inside the Tokio runtime (lettre's pool spawns a task).
    /// A user and password on plain `smtp://` are refused unless `allow_plaintext_auth`: they
    /// would cross the network in clear. `connections` bounds the connections kept open (one
    /// per mail in flight).
    pub fn from_url(
        raw: &str,
        allow_plaintext_auth: bool,
        connections: usize,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = raw.strip_prefix("file://") {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create mail directory {dir}: {e}"))?;
            return Ok(Transport::File(AsyncFileTransport::new(dir)));
        }
        let url =
            url::Url::parse(raw).map_err(|_| anyhow::anyhow!("CONSENTRY_MAIL_URL is not a URL"))?;
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("CONSENTRY_MAIL_URL names no host"))?;
        let scheme = url.scheme();
        if !matches!(scheme, "smtp" | "smtp+starttls" | "smtps") {
            anyhow::bail!(
                "CONSENTRY_MAIL_URL must start with file://, smtp://, smtp+starttls:// or smtps://"
            );
        }
        if scheme == "smtp" && !url.username().is_empty() && !allow_plaintext_auth {
            anyhow::bail!(
                "CONSENTRY_MAIL_URL would send its password in clear over smtp://; use \
                 smtp+starttls:// or smtps://, or set CONSENTRY_MAIL_ALLOW_PLAINTEXT_AUTH=true \
                 for a relay on a network you trust"
            );
        }
        let credentials = (!url.username().is_empty()).then(|| {
            Credentials::new(
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or_default()),
            )
        });
        let connections = connections.max(1);
        if scheme == "smtps" {
            let mut builder = AsyncSmtpTransport::<Tokio1Executor>::relay(host)?
                .port(url.port().unwrap_or(465))
                .timeout(Some(std::time::Duration::from_secs(30)))
                .pool_config(PoolConfig::new().max_size(connections as u32));
            if let Some(credentials) = credentials {
                builder = builder.credentials(credentials);
            }
            return Ok(Transport::Smtps(builder.build()));
        }
        let starttls = scheme == "smtp+starttls";
        let port = url.port().unwrap_or(if starttls { 587 } else { 25 });
        Ok(Transport::Smtp(SmtpPool::new(
            host,
            port,
            starttls,
            credentials,
            connections,
        )))
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Transport::File(t) => t.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: false,
                reached: true,
                message: e.to_string(),
            }),
            Transport::Smtp(pool) => pool.send(&message).await,
            Transport::Smtps(t) => t.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: e.is_permanent(),
                reached: e.is_permanent() || e.is_transient(),
                message: e.to_string(),
            }),
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::Transport;

    #[tokio::test]
    async fn a_password_over_plain_smtp_needs_an_explicit_setting() {
        let url = "smtp://user:secret@127.0.0.1:2525";
        let refused = Transport::from_url(url, false, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(refused.contains("smtp+starttls://"), "{refused}");
        assert!(
            !refused.contains("secret"),
            "the password is not repeated: {refused}"
        );
        assert!(Transport::from_url(url, true, 1).is_ok());
        assert!(Transport::from_url("smtp://127.0.0.1:2525", false, 1).is_ok());
        assert!(Transport::from_url("smtps://user:secret@127.0.0.1:465", false, 1).is_ok());
    }
}
