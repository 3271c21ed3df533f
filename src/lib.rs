//! Consentry: proves opt-in consent for email.
//!
//! Folder map: `http/` and `cli/` parse input and call one flow or view, `flows/` are the
//! workflows (one write transaction each), `views/` the read models, `db/` stores rows,
//! `domain/` holds the rules and newtypes, `startup` wires it all into a server.

pub mod audit;
pub mod auth;
pub mod batches;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod flows;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod permits;
pub mod reputation;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod views;
pub mod webhooks;
