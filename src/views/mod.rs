//! Read models: what the API and pages show, each built from several queries. Handlers
//! call these on the blocking pool; they never write.

pub mod cached;
pub mod check;
pub mod check_queue;
pub mod consent;
pub mod evidence;
pub mod lists;
pub mod pages;
pub mod receipt;
pub mod reputation;
pub mod subject;
pub mod webhook;

use crate::db::StoreError;

/// Why a read model could not be built: the record does not exist (for this sender), or
/// storage failed. Handlers decide which problem a miss is (an unknown list, a key whose
/// sender is gone).
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("no such resource")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}
