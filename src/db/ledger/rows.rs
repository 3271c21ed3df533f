//! The rows of the ledger tables and the event to append, converting to and from the
//! `consentry-ledger` crate's types.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::{event_pii, events};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::{ConsentId, SenderId};
use consentry_ledger::chain::ChainedFields;
use consentry_ledger::pii::{Pii, PiiRecord};
use consentry_ledger::verify::EventRecord;

/// A stored event: the columns of [`ChainedFields`] (which declares what the chain covers)
/// with `at` as a timestamp and `data` as JSON text, plus the two hashes. Converts to and
/// from the crate's type, never field by field elsewhere.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: String,
    pub sender_id: SenderId,
    pub seq: i64,
    pub at: NaiveDateTime,
    pub kind: String,
    pub consent_id: Option<ConsentId>,
    pub list_slug: Option<String>,
    pub subject_key: Option<String>,
    pub data: String,
    pub pii_sha256: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl EventRow {
    /// The row of an event about to be appended: `fields.at` is `clock::rfc3339(at)`.
    pub(super) fn new(
        fields: &ChainedFields<'_, Value>,
        at: NaiveDateTime,
        prev_hash: String,
        hash: String,
    ) -> Self {
        Self {
            id: fields.id.to_owned(),
            sender_id: SenderId::from_trusted(fields.sender_id),
            seq: fields.seq,
            at,
            kind: fields.kind.to_owned(),
            consent_id: fields.consent_id.map(ConsentId::from_trusted),
            list_slug: fields.list.map(str::to_owned),
            subject_key: fields.subject_key.map(str::to_owned),
            data: fields.data.to_string(),
            pii_sha256: fields.pii_sha256.map(str::to_owned),
            prev_hash,
            hash,
        }
    }

    /// The fields the chain covers, `data` as stored; `at` must be `clock::rfc3339(self.at)`
    /// (the text that was hashed), which the caller keeps alive.
    pub fn chained<'a>(&'a self, at: &'a str) -> ChainedFields<'a, str> {
        ChainedFields {
            sender_id: self.sender_id.as_str(),
            seq: self.seq,
            id: &self.id,
            at,
            kind: &self.kind,
            consent_id: self.consent_id.as_ref().map(ConsentId::as_str),
            list: self.list_slug.as_deref(),
            subject_key: self.subject_key.as_deref(),
            data: &self.data,
            pii_sha256: self.pii_sha256.as_deref(),
        }
    }

    /// What the verifier checks of this row: its fields, personal data and hashes.
    pub fn record<'a>(&'a self, at: &'a str, pii: Option<&'a PiiRecord>) -> EventRecord<'a> {
        EventRecord {
            event: self.chained(at),
            pii: pii.map(PiiRecord::as_ref),
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// The personal data stored beside an event; all `None` (and `erased_at` set) once erased.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = event_pii)]
pub struct PiiRow {
    /// Never null in a stored row: in a left join it tells "no personal data recorded" from
    /// "a record whose every field is null".
    pub event_id: String,
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
    pub salt: Option<String>,
    pub erased_at: Option<NaiveDateTime>,
}

impl PiiRow {
    /// The record the chain's `pii_sha256` covers; `None` once erased.
    pub fn record(&self) -> Option<PiiRecord> {
        if self.erased_at.is_some() {
            return None;
        }
        Some(PiiRecord {
            email: self.email.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            note: self.note.clone(),
            salt: self.salt.clone(),
        })
    }
}

/// An event with the personal data beside it, if any was recorded.
pub type EventWithPii = (EventRow, Option<PiiRow>);

/// An event to append.
pub struct NewEvent<'a> {
    /// Preassigned id (a batch check names its receipt before the stream ends).
    pub id: Option<String>,
    pub kind: EventKind,
    pub consent_id: Option<&'a ConsentId>,
    pub list_slug: Option<&'a str>,
    pub subject_key: Option<&'a str>,
    pub data: Value,
    pub pii: Option<Pii>,
}

impl<'a> NewEvent<'a> {
    pub fn new(kind: EventKind, data: Value) -> Self {
        Self {
            id: None,
            kind,
            consent_id: None,
            list_slug: None,
            subject_key: None,
            data,
            pii: None,
        }
    }
}
