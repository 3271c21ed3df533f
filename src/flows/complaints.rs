//! A complaint becomes an opt-out, a ledger record and a signal: a complaint about a
//! sender's mail unsubscribes the address from that list (channel `complaint`); one about a
//! confirmation mail acts as "this wasn't me" (confirmation mail to the address is suppressed
//! for every sender); `not-spam` is recorded and changes nothing. Each is a `complained`
//! event on the sender's chain, with the report's digest, never its content.

use chrono::NaiveDateTime;
use serde_json::json;

use super::links::{self, LinkOutcome, Observed};
use crate::db::complaints::{self as rows, ComplaintRow};
use crate::db::ledger::NewEvent;
use crate::db::{lists, subscriptions, write_transaction, DbConn, StoreError};
use crate::domain::complaint::{ComplaintAction, ComplaintSource, FeedbackType, MailKind};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::ledger::Pii;
use crate::domain::report::Report;
use crate::domain::token::TokenKey;
use crate::views::evidence::{evidence_of, find_target, Evidence, Target};

/// A complaint as received.
pub struct Intake<'a> {
    /// The sender who passed it on; `None` on the recipient's report page, where the signed
    /// link in the pasted headers is the only authority.
    pub sender_id: Option<&'a SenderId>,
    pub report: &'a Report,
    pub feedback_type: FeedbackType,
    pub source: ComplaintSource,
    pub received_at: NaiveDateTime,
    /// Free text from the complaint desk (personal data: erasable with the address).
    pub note: Option<String>,
    /// Who pressed the report page's button (the page only).
    pub observed: Observed,
}

/// What a complaint did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `None` when nothing was stored (the report page with no valid link).
    pub complaint_id: Option<String>,
    pub sender_id: Option<SenderId>,
    pub consent_id: Option<ConsentId>,
    pub list: Option<String>,
    pub kind: MailKind,
    pub feedback_type: FeedbackType,
    pub action: ComplaintAction,
}

impl Outcome {
    fn of(row: &ComplaintRow, list: Option<String>) -> Self {
        Self {
            complaint_id: Some(row.id.clone()),
            sender_id: Some(row.sender_id.clone()),
            consent_id: row.consent_id.clone(),
            list,
            kind: row.mail_kind,
            feedback_type: row.feedback_type,
            action: row.action,
        }
    }
}

/// Takes a complaint in. The same report sent twice by one sender is one complaint (the
/// first answer is given again). Call inside a write transaction.
pub fn take(
    conn: &mut DbConn,
    intake: &Intake<'_>,
    keys: &[TokenKey],
    now: NaiveDateTime,
) -> Result<Outcome, StoreError> {
    if let Some(sender_id) = intake.sender_id {
        if let Some(before) = rows::find_by_report(conn, sender_id, &intake.report.sha256)? {
            let list = list_of(conn, before.consent_id.as_ref())?;
            return Ok(Outcome::of(&before, list));
        }
    }
    // Without a sender, only a signed link authorises: a Message-ID is no secret.
    let links_only;
    let report = match intake.sender_id {
        Some(_) => intake.report,
        None => {
            links_only = Report {
                message_id: None,
                ..intake.report.clone()
            };
            &links_only
        }
    };
    let target = find_target(
        conn,
        report,
        keys,
        intake.sender_id,
        now.and_utc().timestamp(),
    )?;
    let Some(Target { consent, kind }) = target else {
        return not_found(conn, intake, now);
    };
    if let Some(before) = rows::find_by_report(conn, &consent.sender_id, &intake.report.sha256)? {
        let list = list_of(conn, before.consent_id.as_ref())?;
        return Ok(Outcome::of(&before, list));
    }
    let action = act(conn, intake, &consent.id, kind, now)?;
    let row = ComplaintRow {
        id: uuid::Uuid::now_v7().to_string(),
        sender_id: consent.sender_id.clone(),
        consent_id: Some(consent.id.clone()),
        mail_kind: kind,
        feedback_type: intake.feedback_type,
        source: intake.source,
        action,
        report_sha256: intake.report.sha256.clone(),
        received_at: intake.received_at,
        created_at: now,
    };
    let list = lists::find_list_by_id(conn, &consent.list_id)?.map(|l| l.slug);
    let sub = subscriptions::find_subscription_by_id(conn, &consent.subscription_id)?;
    let event = NewEvent {
        consent_id: Some(&consent.id),
        list_slug: list.as_deref(),
        subject_key: sub.as_ref().map(|s| s.address_key.as_str()),
        pii: intake.note.clone().map(|note| Pii {
            note: Some(note),
            ..Pii::default()
        }),
        ..NewEvent::new(
            EventKind::Complained,
            json!({
                "complaint_id": row.id,
                "mail": kind,
                "feedback_type": intake.feedback_type,
                "source": intake.source,
                "action": action,
                "arf": intake.report.is_arf,
                "report_sha256": intake.report.sha256,
                "received_at": crate::clock::rfc3339(intake.received_at),
                "counted": intake.feedback_type.is_complaint(),
            }),
        )
    };
    super::record_event(conn, &consent.sender_id, event, now)?;
    rows::insert_complaint(conn, &row)?;
    Ok(Outcome::of(&row, list))
}

/// [`take`] in its own write transaction, then the evidence of the consent it names (for the
/// sender's answer and the recipient's page).
pub fn take_and_show(
    conn: &mut DbConn,
    intake: &Intake<'_>,
    keys: &[TokenKey],
    base_url: &str,
    now: NaiveDateTime,
) -> Result<(Outcome, Option<Evidence>), StoreError> {
    let outcome = write_transaction(conn, |conn| take(conn, intake, keys, now))?;
    let evidence = match &outcome.consent_id {
        Some(id) => match crate::db::consents::find_consent_by_id(conn, id)? {
            Some(consent) => evidence_of(conn, &consent, base_url)?.map(|(_, e)| e),
            None => None,
        },
        None => None,
    };
    Ok((outcome, evidence))
}

/// Unsubscribes or refuses as the complaint calls for.
fn act(
    conn: &mut DbConn,
    intake: &Intake<'_>,
    consent_id: &ConsentId,
    kind: MailKind,
    now: NaiveDateTime,
) -> Result<ComplaintAction, StoreError> {
    if !intake.feedback_type.is_complaint() {
        return Ok(ComplaintAction::Recorded);
    }
    Ok(match kind {
        MailKind::ConfirmationMail => {
            links::refuse_via(conn, consent_id, &intake.observed, Some("complaint"), now)?;
            ComplaintAction::Suppressed
        }
        _ => match links::unsubscribe(conn, consent_id, "complaint", &intake.observed, now)? {
            LinkOutcome::Done => ComplaintAction::Unsubscribed,
            _ => ComplaintAction::AlreadyUnsubscribed,
        },
    })
}

/// A report naming nothing of this sender: stored for the sender's own count (an API
/// intake), never on a chain; the report page stores nothing.
fn not_found(
    conn: &mut DbConn,
    intake: &Intake<'_>,
    now: NaiveDateTime,
) -> Result<Outcome, StoreError> {
    let mut outcome = Outcome {
        complaint_id: None,
        sender_id: intake.sender_id.cloned(),
        consent_id: None,
        list: None,
        kind: MailKind::Unknown,
        feedback_type: intake.feedback_type,
        action: ComplaintAction::NotFound,
    };
    if let Some(sender_id) = intake.sender_id {
        let row = ComplaintRow {
            id: uuid::Uuid::now_v7().to_string(),
            sender_id: sender_id.clone(),
            consent_id: None,
            mail_kind: MailKind::Unknown,
            feedback_type: intake.feedback_type,
            source: intake.source,
            action: ComplaintAction::NotFound,
            report_sha256: intake.report.sha256.clone(),
            received_at: intake.received_at,
            created_at: now,
        };
        rows::insert_complaint(conn, &row)?;
        outcome.complaint_id = Some(row.id);
    }
    Ok(outcome)
}

fn list_of(
    conn: &mut DbConn,
    consent_id: Option<&ConsentId>,
) -> Result<Option<String>, StoreError> {
    let Some(consent_id) = consent_id else {
        return Ok(None);
    };
    let Some(consent) = crate::db::consents::find_consent_by_id(conn, consent_id)? else {
        return Ok(None);
    };
    Ok(lists::find_list_by_id(conn, &consent.list_id)?.map(|l| l.slug))
}
