//! Confirmation mail: rendering from templates, the transports, and the outbox worker.

pub mod message;
pub mod templates;
pub mod transport;
pub mod worker;
