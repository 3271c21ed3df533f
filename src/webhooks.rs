//! Webhook deliveries inside `serve`, on the shared outbox loop (`crate::jobs`): at least
//! once, signed per Standard Webhooks, retried with capped exponential backoff. The body is
//! built from the ledger event at delivery time, so an erasure reaches queued deliveries.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use crate::clock;
use secrecy::ExposeSecret;

use crate::config::{Settings, WebhookSettings};
use crate::db::ledger::{find_event, EventWithPii};
use crate::db::outbox::{self, OutboxRow};
use crate::db::webhooks::{find_webhook, WebhookRow};
use crate::db::{write_transaction, Db, DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::SenderId;
use crate::domain::job_kind::OutboxKind;
use crate::domain::webhook::{is_public, signature, WebhookUrl};
use crate::jobs::{next_attempt, Claim, Queue, Retries};

pub struct WebhookWorker {
    pub db: Db,
    pub client: reqwest::Client,
    pub settings: Arc<Settings>,
    pub wake: Arc<Notify>,
}

/// Why an attempt did not deliver, and whether trying again can help.
struct Undelivered {
    error: String,
    permanent: bool,
}

impl WebhookWorker {
    pub fn new(db: Db, settings: Arc<Settings>, wake: Arc<Notify>) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            client: client(&settings.webhooks)?,
            settings,
            wake,
        })
    }

    /// Runs until `stop` turns true; the jobs already claimed are finished first.
    pub async fn run(self, owner: Arc<str>, stop: watch::Receiver<bool>) {
        let queue = Queue {
            db: self.db.clone(),
            kind: OutboxKind::Webhook,
            // One at a time: a receiver sees a sender's events in the order they happened.
            concurrency: 1,
            wake: self.wake.clone(),
            owner,
        };
        crate::jobs::run(queue, stop, || Claim::Batch, |job| self.deliver(job)).await;
    }

    async fn deliver(&self, job: OutboxRow) {
        let (sender_id, payload) = (job.sender_id.clone(), job.payload.clone());
        let loaded = self
            .db
            .run(move |conn| load(conn, &sender_id, &payload))
            .await;
        let outcome = match loaded {
            Ok(Some((hook, event))) => self.post(&hook, &event).await,
            Ok(None) => Err(Undelivered {
                error: "obsolete: the webhook or its event is gone".into(),
                permanent: true,
            }),
            Err(error) => {
                tracing::warn!(%error, job = %job.id, "cannot load webhook job; will retry");
                return;
            }
        };
        self.settle(job, outcome).await;
    }

    async fn post(&self, hook: &WebhookRow, event: &EventWithPii) -> Result<(), Undelivered> {
        let permanent = |error: String| Undelivered {
            error,
            permanent: true,
        };
        let allow_private = self.settings.webhooks.allow_private_targets;
        let url =
            WebhookUrl::parse(&hook.url, allow_private).map_err(|e| permanent(e.to_string()))?;
        let body = serde_json::to_vec(&body(event)).map_err(|e| permanent(e.to_string()))?;
        let id = &event.0.id;
        let timestamp = clock::now().and_utc().timestamp();
        let signed = signature(&hook.secret, id, timestamp, &body)
            .ok_or_else(|| permanent("the stored secret is malformed".into()))?;
        let response = self
            .client
            .post(url.as_str())
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signed)
            .body(body)
            .send()
            .await
            .map_err(|e| Undelivered {
                // Without the URL: it may carry a token of the receiver's.
                error: e.without_url().to_string(),
                permanent: false,
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Undelivered {
                error: format!("the receiver answered {}", response.status()),
                permanent: false,
            })
        }
    }

    async fn settle(&self, job: OutboxRow, outcome: Result<(), Undelivered>) {
        let retries = Retries {
            max_attempts: self.settings.webhooks.max_attempts,
            until: None,
            base: self.settings.mail.retry_base,
            max: self.settings.mail.retry_max,
        };
        let job_id = job.id.clone();
        let result = self
            .db
            .write(move |conn| {
                let now = clock::now();
                write_transaction(conn, |conn| match outcome {
                    Ok(()) => outbox::mark_sent(conn, &job.id, now),
                    Err(failed) => {
                        let attempts = job.attempts + 1;
                        let retry_at = next_attempt(now, attempts, failed.permanent, retries);
                        if retry_at.is_none() {
                            tracing::warn!(job = %job.id, error = %failed.error, attempts, "webhook delivery failed for good");
                        }
                        outbox::mark_attempt_failed(conn, &job.id, &failed.error, retry_at)
                    }
                })
            })
            .await;
        if let Err(error) = result {
            tracing::error!(%error, job = %job_id, "cannot record webhook outcome");
        }
    }
}

/// The sender's endpoint and the event a job announces, if both still stand and the sender
/// still wants this kind.
fn load(
    conn: &mut DbConn,
    sender_id: &SenderId,
    payload: &str,
) -> Result<Option<(WebhookRow, EventWithPii)>, StoreError> {
    let event_id = serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|p| p["event_id"].as_str().map(str::to_owned));
    let Some(event_id) = event_id else {
        return Ok(None);
    };
    let Some(hook) = find_webhook(conn, sender_id)? else {
        return Ok(None);
    };
    let Some(event) = find_event(conn, sender_id, &event_id)? else {
        return Ok(None);
    };
    let wanted = hook.kinds().contains(&event.0.kind);
    Ok(wanted.then_some((hook, event)))
}

/// `{"type": "consent.<kind>", "timestamp", "data": {...}}` (Standard Webhooks payload).
fn body((event, pii): &EventWithPii) -> Value {
    let email = pii
        .as_ref()
        .filter(|p| p.erased_at.is_none())
        .and_then(|p| p.email.clone());
    json!({
        // The sender's own standing is not a consent's event.
        "type": if event.kind == EventKind::StandingChanged.as_str() {
            format!("sender.{}", event.kind)
        } else {
            format!("consent.{}", event.kind)
        },
        "timestamp": clock::rfc3339(event.at),
        "data": {
            "event_id": event.id,
            "seq": event.seq,
            "kind": event.kind,
            "at": clock::rfc3339(event.at),
            "consent_id": event.consent_id,
            "list": event.list_slug,
            "email": email,
            "details": serde_json::from_str::<Value>(&event.data).unwrap_or(Value::Null),
            "hash": event.hash,
        },
    })
}

/// The delivery client: no redirects, the configured proxy or none (never one from the
/// environment), and public addresses only unless private targets are allowed.
fn client(settings: &WebhookSettings) -> anyhow::Result<reqwest::Client> {
    let mut client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Consentry-Webhooks/", env!("CARGO_PKG_VERSION")));
    client = match &settings.proxy {
        Some(proxy) => client.proxy(reqwest::Proxy::all(proxy.expose_secret())?),
        None => client.no_proxy(),
    };
    if !settings.allow_private_targets {
        client = client.dns_resolver(Arc::new(PublicOnly));
    }
    Ok(client.build()?)
}

/// Resolves names and keeps only public addresses, so a webhook cannot reach the service's
/// own network even through a name that resolves (or later re-resolves) to it.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A proxy from the environment would resolve the target itself, past [`PublicOnly`].
    #[tokio::test]
    async fn deliveries_ignore_a_proxy_from_the_environment() {
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        for name in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            std::env::set_var(name, &proxy_url);
        }
        let settings = WebhookSettings {
            max_attempts: 1,
            timeout: Duration::from_secs(2),
            allow_private_targets: false,
            proxy: None,
        };
        let client = client(&settings).unwrap();
        let sent = client.post("https://hooks.example.invalid/").send();
        let reached_proxy = tokio::select! {
            _ = sent => false,
            accepted = proxy.accept() => accepted.is_ok(),
        };
        for name in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            std::env::remove_var(name);
        }
        assert!(
            !reached_proxy,
            "the delivery went through the environment's proxy"
        );
    }
}
