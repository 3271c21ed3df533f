//! Confirmation mail: rendering from templates, the transports, and the outbox worker.

pub mod domains;
pub mod message;
mod outcome;
pub mod relay;
pub mod settler;
mod smtp;
pub mod templates;
pub mod transport;
pub mod worker;
