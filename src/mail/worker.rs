//! The mail worker inside `serve` (on the shared outbox loop, `crate::jobs`): renders and
//! sends confirmation mail, retries with capped exponential backoff, and records
//! `confirmation_sent` (Message-ID and SHA-256 of the message) or, finally,
//! `confirmation_failed`.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use lettre::message::{dkim::DkimConfig, Mailbox};
use serde_json::json;
use tokio::sync::{watch, Notify};

use super::domains::DomainTurns;
use super::message::{confirmation, ConfirmationView, Rendered};
use super::templates::Templates;
use super::transport::Transport;
use crate::clock;
use crate::config::Settings;
use crate::db::complaints;
use crate::db::consents::{self, ConsentRow};
use crate::db::ledger::NewEvent;
use crate::db::lists::{find_list_by_id, ListRow};
use crate::db::outbox::{self, OutboxRow};
use crate::db::senders::{find_sender, Sender};
use crate::db::subscriptions;
use crate::db::{snapshot, suppressions, write_transaction, Db, DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::ConsentId;
use crate::domain::job_kind::OutboxKind;
use crate::domain::status::ConsentStatus;
use crate::domain::token::{sign, Action, LinkClaims};
use crate::jobs::{next_attempt, Retries};
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
    /// Attempts by outcome (`sent`, `failed`, `given_up`, `obsolete`), shown in `/metrics`.
    pub attempts: prometheus::IntCounterVec,
}

/// What a job needs from storage.
struct MailContext {
    consent: ConsentRow,
    email: String,
    sender: Sender,
    list: ListRow,
}

impl MailWorker {
    /// Runs until `stop` turns true; a job in flight is finished first.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let (db, wake) = (self.db.clone(), self.wake.clone());
        let concurrency = self.settings.mail.concurrency;
        crate::jobs::run(db, OutboxKind::Mail, concurrency, wake, stop, |job| {
            self.deliver(job)
        })
        .await;
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
            Ok(None) => {
                // Confirmed, refused, expired, erased or suppressed before the mail went out.
                self.settle(
                    job,
                    Err((
                        "obsolete: consent no longer pending or address suppressed".into(),
                        true,
                    )),
                )
                .await;
                return;
            }
            Err(error) => {
                tracing::warn!(%error, job = %job_id, "cannot load mail context; will retry");
                return;
            }
        };
        let rendered = match self.render(&context, &job.id) {
            Ok(rendered) => rendered,
            Err(error) => {
                tracing::error!(%error, job = %job_id, "cannot render confirmation mail");
                self.settle(job, Err(("render failed".into(), true))).await;
                return;
            }
        };
        let Rendered {
            message,
            message_id,
            sha256,
        } = rendered;
        let _turn = self.domains.turn(&context.email).await;
        let sent =
            tokio::time::timeout(Duration::from_secs(60), self.transport.send(message)).await;
        let outcome = match sent {
            Ok(Ok(())) => Ok((message_id, sha256)),
            Ok(Err(e)) => Err((e.message, e.permanent)),
            Err(_) => Err(("timed out".into(), false)),
        };
        self.settle(job, outcome).await;
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

    /// Records the attempt: sent, retried later, or failed for good.
    async fn settle(&self, job: OutboxRow, outcome: Result<(String, String), (String, bool)>) {
        let mail = self.settings.mail.clone();
        let job_id = job.id.clone();
        let result = self
            .db
            .run(move |conn| {
                let now = clock::now();
                write_transaction(conn, |conn| match outcome {
                    Ok((message_id, sha256)) => {
                        outbox::mark_sent(conn, &job.id, now)?;
                        if let Some(consent_id) = &job.consent_id {
                            complaints::insert_sent_mail(conn, &message_id, &job.sender_id, consent_id, now)?;
                        }
                        record(
                            conn,
                            &job,
                            EventKind::ConfirmationSent,
                            json!({
                                "message_id": message_id, "message_sha256": sha256,
                                "attempt": job.attempts + 1,
                            }),
                            now,
                        )?;
                        Ok("sent")
                    }
                    Err((error, permanent)) => {
                        let attempts = job.attempts + 1;
                        let retries = Retries {
                            max_attempts: mail.max_attempts,
                            until: Some(job.created_at + mail.retry_for),
                            base: mail.retry_base,
                            max: mail.retry_max,
                        };
                        let retry_at = next_attempt(now, attempts, permanent, retries);
                        outbox::mark_attempt_failed(conn, &job.id, &error, retry_at)?;
                        let gave_up = retry_at.is_none();
                        // Without the error text: it may name the recipient.
                        match retry_at {
                            None => tracing::warn!(job = %job.id, attempts, permanent, "confirmation mail given up"),
                            Some(at) => tracing::info!(job = %job.id, attempts, retry_at = %at, "confirmation mail attempt failed; will retry"),
                        }
                        let obsolete = error.starts_with("obsolete");
                        if gave_up && job.consent_id.is_some() && !obsolete {
                            record(
                                conn,
                                &job,
                                EventKind::ConfirmationFailed,
                                json!({
                                    "attempts": attempts, "permanent": permanent,
                                }),
                                now,
                            )?;
                        }
                        Ok(match (obsolete, gave_up) {
                            (true, _) => "obsolete",
                            (false, true) => "given_up",
                            (false, false) => "failed",
                        })
                    }
                })
            })
            .await;
        match result {
            Ok(outcome) => self.attempts.with_label_values(&[outcome]).inc(),
            Err(error) => tracing::error!(%error, job = %job_id, "cannot record mail outcome"),
        }
    }
}

fn record(
    conn: &mut DbConn,
    job: &OutboxRow,
    kind: EventKind,
    data: serde_json::Value,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let event = NewEvent {
        consent_id: job.consent_id.as_ref(),
        ..NewEvent::new(kind, data)
    };
    crate::db::ledger::record_event(conn, &job.sender_id, event, now).map(|_| ())
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
