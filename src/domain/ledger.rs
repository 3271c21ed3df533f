//! Ledger hashing and personal-data digests, as the flows that record events use them. They
//! live in the `consentry-ledger` crate (`crates/ledger`), beside the offline verifier that
//! must agree with them byte for byte.

pub use consentry_ledger::chain::{chain_hash, ChainedFields, GENESIS_HASH};
pub use consentry_ledger::pii::{new_salt, Pii, PiiRecord, PiiRef};
