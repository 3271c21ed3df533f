//! Rules and newtypes: every external string becomes one of these before it reaches storage.

pub mod address_hash;
pub mod api_key;
/// Canonical JSON, as the ledger hashes and signs it (the `consentry-ledger` crate).
pub use consentry_ledger::canonical;
pub mod complaint;
pub mod conflict;
pub mod display_text;
pub mod email;
pub mod event_kind;
pub mod field;
pub mod ids;
pub mod job_kind;
pub mod ledger;
pub mod list;
pub mod report;
pub mod sender;
pub mod standing;
pub mod status;
pub mod text_enum;
pub mod token;
pub mod webhook;

#[cfg(test)]
mod stored_text_tests;
