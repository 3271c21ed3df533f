//! Rules and newtypes: every external string becomes one of these before it reaches storage.

pub mod api_key;
pub mod canonical;
pub mod conflict;
pub mod email;
pub mod ledger;
pub mod list;
pub mod sender;
pub mod token;
pub mod webhook;
