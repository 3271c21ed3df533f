//! Consentry's ledger, everything that needs neither the web service nor its database: the
//! canonical encoding of events, the hash chain, personal-data digests, signed checkpoints
//! and the offline verifier of NDJSON and CSV exports. `docs/ledger.md` specifies the same
//! format in prose, with the fixed test vectors of `tests/vectors.rs`.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod file;
pub mod json;
pub mod pii;
pub mod verify;

pub use chain::{chain_hash, ChainedFields, GENESIS_HASH};
pub use checkpoint::{Checkpoint, CheckpointError, SigningKeys, VerifyingKeys};
pub use pii::{new_salt, Pii, PiiRecord, PiiRef};
pub use verify::{check_event, Chain, EventRecord, Failure, PiiState, Report};
