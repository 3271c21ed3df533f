//! Integration tests: the real server on port 0, spoken to over HTTP. Each test gets its own
//! database: a temporary SQLite file, or a fresh PostgreSQL database when
//! `CONSENTRY_TEST_POSTGRES_URL` is set (CI runs the suite both ways).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod batch;
mod chain;
mod cli;
mod complaints;
mod crashes;
mod delivery;
mod dkim;
mod doi;
mod errors;
mod evidence;
mod exports;
mod fixture_export;
mod hostile;
mod instances;
mod lifecycle;
mod lists;
mod ops;
mod pages;
mod prankster;
mod races;
mod receipts;
mod report_page;
mod retention;
mod slow_clients;
mod standing;
mod subjects;
mod support;
mod webhooks;
