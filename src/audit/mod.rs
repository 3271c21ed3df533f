//! Evidence for auditors: signed checkpoints, exports, verification (online from the
//! database, offline from a file), Kantara consent receipts and the retention sweep that
//! minimises old personal data.

pub mod checkpoint;
pub mod export;
pub mod file;
pub mod json;
pub mod receipt;
pub mod stored;
pub mod verify;
