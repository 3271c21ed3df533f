//! Evidence for auditors: exports and verification of the stored chain, Kantara consent
//! receipts and the retention sweep that minimises old personal data. Checkpoints, the
//! verification rules and the offline file verifier live in the `consentry-ledger` crate
//! and are re-exported here.

pub use consentry_ledger::{checkpoint, file, verify};

pub mod export;
pub mod receipt;
pub mod stored;
