//! Starting a double opt-in under the idempotency protocol: the same `Idempotency-Key` with
//! the same request gets the stored answer again, with another request a conflict. Two
//! requests racing for the same new subscription or key are retried once.

use std::sync::Arc;

use super::pending::{self, Resend};
use super::signup::{signup, ClaimedEvidence, Signed, Signup};
use super::{FlowError, Mailing};
use crate::clock;
use crate::config::FlowSettings;
use crate::db::lists::ListWithTexts;
use crate::db::{idempotency, write_transaction, Db, DbConn, StoreError};
use crate::domain::conflict::Conflict;
use crate::domain::email::EmailAddress;
use crate::domain::ids::{ConsentId, SenderId};

/// An `Idempotency-Key` and the keyed digest of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_sha256: String,
}

/// A parsed signup request, owned so it can be retried.
#[derive(Clone)]
pub struct SignupRequest {
    pub sender_id: SenderId,
    pub list: Arc<ListWithTexts>,
    pub email: EmailAddress,
    pub address_key: String,
    pub abuse_key: String,
    pub client_ip_key: Option<String>,
    pub network_key: Option<String>,
    pub locale: &'static str,
    pub evidence: ClaimedEvidence,
    pub idempotency: Option<IdempotencyKey>,
}

/// What one attempt found or recorded.
enum Attempt {
    Signed(Signed),
    KeyReused,
}

/// Records the signup (or replays its stored answer) in one write transaction, which on
/// SQLite it may share with concurrent signups ([`Db::write`]).
pub async fn start(
    db: &Db,
    request: SignupRequest,
    rules: FlowSettings,
) -> Result<Signed, FlowError> {
    let again = (request.clone(), rules.clone());
    // The loser of a race fails on a unique constraint; once more finds the winner's rows.
    let attempt = match db.write(move |conn| attempt(conn, &request, &rules)).await {
        Err(e) if e.is_unique_violation() => {
            db.write(move |conn| attempt(conn, &again.0, &again.1))
                .await?
        }
        other => other?,
    };
    match attempt {
        Attempt::Signed(signed) => Ok(signed),
        Attempt::KeyReused => Err(Conflict::IdempotencyKeyReused.into()),
    }
}

fn attempt(
    conn: &mut DbConn,
    request: &SignupRequest,
    rules: &FlowSettings,
) -> Result<Attempt, StoreError> {
    write_transaction(conn, |conn| {
        let sender_id = &request.sender_id;
        if let Some(idem) = &request.idempotency {
            if let Some((digest, _, stored)) = idempotency::find_answer(conn, sender_id, &idem.key)?
            {
                return Ok(match serde_json::from_str(&stored) {
                    Ok(answer) if digest == idem.request_sha256 => Attempt::Signed(Signed {
                        answer,
                        mail_queued: false,
                    }),
                    _ => Attempt::KeyReused,
                });
            }
        }
        let signup_request = Signup {
            sender_id,
            list: &request.list.list,
            email: &request.email,
            address_key: request.address_key.clone(),
            abuse_key: request.abuse_key.clone(),
            client_ip_key: request.client_ip_key.clone(),
            network_key: request.network_key.clone(),
            locale: request.locale,
            evidence: request.evidence.clone(),
        };
        let signed = signup(conn, &signup_request, rules, clock::now())?;
        if let Some(idem) = &request.idempotency {
            let stored = serde_json::to_string(&signed.answer).unwrap_or_default();
            idempotency::store_answer(
                conn,
                sender_id,
                &idem.key,
                &idem.request_sha256,
                202,
                &stored,
            )?;
        }
        Ok(Attempt::Signed(signed))
    })
}

/// Resends the confirmation mail of a pending consent, in one write transaction.
pub fn resend(
    conn: &mut DbConn,
    sender_id: &SenderId,
    consent_id: &ConsentId,
    rules: &FlowSettings,
) -> Result<Mailing, FlowError> {
    let outcome = write_transaction(conn, |conn| {
        pending::resend(conn, sender_id, consent_id, rules, clock::now())
    })?;
    match outcome {
        Resend::Done(mailing) => Ok(mailing),
        Resend::NotFound => Err(FlowError::NotFound),
        Resend::NotPending => Err(Conflict::NotPending.into()),
    }
}
