//! Read models: what the API and pages show, each built from several queries. Handlers
//! call these on the blocking pool; they never write.

pub mod cached;
pub mod check;
pub mod consent;
pub mod lists;
pub mod pages;
pub mod receipt;
pub mod subject;
pub mod webhook;
