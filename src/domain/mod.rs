//! Rules and newtypes: every external string becomes one of these before it reaches storage.

pub mod api_key;
/// Canonical JSON, as the ledger hashes and signs it (the `consentry-ledger` crate).
pub use consentry_ledger::canonical;
pub mod email;
pub mod ledger;
pub mod list;
pub mod sender;
pub mod token;
pub mod webhook;
