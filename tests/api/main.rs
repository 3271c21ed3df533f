//! Integration tests: the real server on port 0, spoken to over HTTP. Each test gets its own
//! database: a temporary SQLite file, or a fresh PostgreSQL database when
//! `CONSENTRY_TEST_POSTGRES_URL` is set (CI runs the suite both ways).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod auth;
mod batch;
mod cli;
mod delivery;
mod dkim;
mod doi;
mod errors;
mod helpers;
mod lifecycle;
mod lists;
mod ops;
mod pages;
mod receiver;
mod records;
mod smtp;
mod webhooks;
