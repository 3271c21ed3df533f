//! The mail worker inside `serve` (on the shared outbox loop, `crate::jobs`): renders and
//! sends confirmation mail, holds the queue while the relay is down (`super::relay`), and
//! hands each attempt's outcome to `super::settler` to be recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::{dkim::DkimConfig, Mailbox};
use tokio::sync::{watch, Notify};

use super::domains::DomainTurns;
use super::message::{confirmation, ConfirmationView, Rendered};
use super::outcome::Outcome;
use super::relay::{Admission, Change, Relay};
use super::settler::Settler;
use super::templates::Templates;
use super::transport::Transport;
use crate::clock;
use crate::config::Settings;
use crate::db::consents::{self, ConsentRow};
use crate::db::lists::{find_list_by_id, ListRow};
use crate::db::outbox::{self, OutboxRow};
use crate::db::senders::{find_sender, Sender};
use crate::db::subscriptions;
use crate::db::{snapshot, suppressions, Db, DbConn, StoreError};
use crate::domain::ids::ConsentId;
use crate::domain::job_kind::OutboxKind;
use crate::domain::status::ConsentStatus;
use crate::domain::token::{sign, Action, LinkClaims};
use crate::jobs::Queue;
use crate::secrets::Secrets;

pub struct MailWorker {
    pub db: Db,
    pub transport: Transport,
    pub templates: Arc<Templates>,
    pub settings: Arc<Settings>,
    pub secrets: Arc<Secrets>,
    pub from: Mailbox,
    pub dkim: Option<DkimConfig>,
    pub wake: Arc<Notify>,
    pub domains: DomainTurns,
    /// Records outcomes in batches; counts them by outcome in `/metrics`.
    pub settler: Settler,
    pub relay: Relay,
    /// `mail_relay_up` in `/metrics`.
    pub relay_up: prometheus::IntGauge,
}

/// A send that takes longer is abandoned and counted as a relay that did not answer.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// What a job needs from storage.
struct MailContext {
    consent: ConsentRow,
    email: String,
    sender: Sender,
    list: ListRow,
}

impl MailWorker {
    /// Runs until `stop` turns true, claiming under `owner`'s name; a job in flight is
    /// finished first.
    pub async fn run(self, owner: Arc<str>, stop: watch::Receiver<bool>) {
        let queue = Queue {
            db: self.db.clone(),
            kind: OutboxKind::Mail,
            concurrency: self.settings.mail.concurrency,
            wake: self.wake.clone(),
            owner,
        };
        let pace = || self.relay.claim(Instant::now());
        crate::jobs::run(queue, stop, pace, |job| self.deliver(job)).await;
    }

    async fn deliver(&self, job: OutboxRow) {
        let job_id = job.id.clone();
        let context = match job.consent_id.clone() {
            Some(consent_id) => {
                self.db
                    .run(move |conn| load_context(conn, &consent_id))
                    .await
            }
            None => Ok(None),
        };
        let context = match context {
            Ok(Some(context)) => context,
            Ok(None) => return self.settle(job, Outcome::Obsolete).await,
            Err(error) => {
                tracing::warn!(%error, job = %job_id, "cannot load mail context; will retry");
                return;
            }
        };
        let rendered = match self.render(&context, &job.id) {
            Ok(rendered) => rendered,
            Err(error) => {
                tracing::error!(%error, job = %job_id, "cannot render confirmation mail");
                let failed = Outcome::Failed {
                    error: "render failed".into(),
                    permanent: true,
                    reached: true,
                };
                return self.settle(job, failed).await;
            }
        };
        let Rendered {
            message,
            message_id,
            sha256,
        } = rendered;
        let _turn = self.domains.turn(&context.email).await;
        let admission = self.relay.admit(Instant::now());
        if admission == Admission::Hold {
            return self.hold(job).await;
        }
        let sent = tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await;
        let outcome = match sent {
            Ok(Ok(())) => Outcome::Sent { message_id, sha256 },
            Ok(Err(e)) => Outcome::Failed {
                error: e.message,
                permanent: e.permanent,
                reached: e.reached,
            },
            Err(_) => Outcome::Failed {
                error: "timed out".into(),
                permanent: false,
                reached: false,
            },
        };
        let reached = !matches!(outcome, Outcome::Failed { reached: false, .. });
        if let Some(change) = self.relay.record(Instant::now(), admission, reached) {
            self.tell(change);
        }
        self.settle(job, outcome).await;
    }

    async fn settle(&self, job: OutboxRow, outcome: Outcome) {
        self.settler.settle(job, outcome).await;
    }

    /// Gives a mail back untouched while the relay is down: no attempt is spent on it.
    async fn hold(&self, job: OutboxRow) {
        let id = job.id.clone();
        if let Err(error) = self.db.write(move |conn| outbox::release(conn, &id)).await {
            tracing::warn!(%error, job = %job.id, "cannot give back a held mail; its lease ends soon");
        }
    }

    /// Logs and shows a change of the relay's state (the job ids are in the attempts' lines).
    fn tell(&self, change: Change) {
        match change {
            Change::WentDown => {
                self.relay_up.set(0);
                tracing::warn!("mail relay unreachable; the queue waits, one mail probes it");
            }
            Change::StillDown {
                down_for,
                next_probe_in,
            } => tracing::info!(
                down_for_s = down_for.as_secs(),
                next_probe_in_s = next_probe_in.as_secs(),
                "mail relay still unreachable"
            ),
            Change::CameBack { after } => {
                self.relay_up.set(1);
                tracing::info!(
                    down_for_s = after.as_secs(),
                    "mail relay reachable again; the queue resumes"
                );
            }
        }
    }

    fn render(&self, c: &MailContext, mail_key: &str) -> anyhow::Result<Rendered> {
        let base = &self.settings.http.base_url;
        let claims = |action| LinkClaims {
            action,
            consent_id: c.consent.id.to_uuid(),
            nonce: c.consent.nonce.clone(),
            expires_at: Some(c.consent.expires_at.and_utc().timestamp()),
        };
        let keys = &self.secrets.token_keys;
        let confirm_url = format!("{base}/c/{}", sign(keys, &claims(Action::Confirm)));
        let refuse_url = format!("{base}/r/{}", sign(keys, &claims(Action::Refuse)));
        let expires_at = c
            .consent
            .expires_at
            .format("%Y-%m-%d %H:%M UTC")
            .to_string();
        let view = ConfirmationView {
            sender_legal_name: &c.sender.legal_name,
            sender_postal_address: &c.sender.postal_address,
            sender_contact: &c.sender.contact,
            on_behalf_of: c.sender.on_behalf_of.as_deref().unwrap_or(""),
            list_name: &c.list.name,
            confirm_url: &confirm_url,
            refuse_url: &refuse_url,
            expires_at: &expires_at,
            recipient: &c.email,
        };
        let to: Mailbox = c.email.parse()?;
        confirmation(
            &self.templates,
            &c.consent.locale,
            &self.from,
            to,
            &view,
            mail_key,
            self.dkim.as_ref(),
        )
    }
}

/// The consent (still pending), its address, sender and list; `None` when there is nothing
/// left to mail: the consent ended, or the address was suppressed (a refusal at any sender)
/// after the mail was queued. Read in one snapshot, at send time, on every attempt.
fn load_context(
    conn: &mut DbConn,
    consent_id: &ConsentId,
) -> Result<Option<MailContext>, StoreError> {
    snapshot(conn, |conn| {
        let Some(consent) = consents::find_consent_by_id(conn, consent_id)? else {
            return Ok(None);
        };
        if consent.status != ConsentStatus::Pending || consent.expires_at <= clock::now() {
            return Ok(None);
        }
        let Some(sub) = subscriptions::find_subscription_by_id(conn, &consent.subscription_id)?
        else {
            return Ok(None);
        };
        if suppressions::blocks_confirmation_mail(conn, &consent.sender_id, &sub.address_key)? {
            return Ok(None);
        }
        let sender = find_sender(conn, &consent.sender_id)?;
        let list = find_list_by_id(conn, &consent.list_id)?;
        Ok(match (sub.email, sender, list) {
            (Some(email), Some(sender), Some(list)) => Some(MailContext {
                consent,
                email,
                sender,
                list,
            }),
            _ => None,
        })
    })
}
