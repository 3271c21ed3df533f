//! Signups with mail enqueued: `POST /v1/consents` for a new address on every request,
//! against `consentry serve` in child processes. Counts only a `202` whose body says the
//! confirmation mail was queued; reports accepted/s, p50 and p99, and how many of the queued
//! mails the outbox had written (to `file://`) by the end of the run. Prints figures;
//! asserts nothing.
//!
//! SQLite always; with `BENCH_POSTGRES_URL` (a server URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`) also PostgreSQL with one instance and with
//! two instances sharing the database, in a database the run creates and drops.
//!
//! `cargo bench --bench signups` (`BENCH_SECONDS` 10, `BENCH_CONNECTIONS` 16,
//! `BENCH_SERVER_BIN` to measure another build, `BENCH_MAIL_DIR` for where the servers' mail
//! goes: see `server::mail_dir`).

#[path = "load.rs"]
mod load;
#[path = "server.rs"]
mod server;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use consentry::db;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use server::{env_number, seed_sender, Server};

fn main() -> anyhow::Result<()> {
    let seconds = env_number("BENCH_SECONDS", 10);
    let connections = env_number("BENCH_CONNECTIONS", 16) as usize;
    println!(
        "{} cores, {connections} connections, {seconds} s per run (after 1 s of warm-up)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    measure(
        "SQLite",
        &sqlite,
        1,
        &dir.path().join("sqlite"),
        seconds,
        connections,
    )?;

    if let Ok(server_url) = std::env::var("BENCH_POSTGRES_URL") {
        for instances in [1, 2] {
            let name = format!("consentry_bench_signups_{}_{instances}", std::process::id());
            let url = create_database(&server_url, &name)?;
            let label = format!("PostgreSQL, {instances} instance(s)");
            let out = dir.path().join(&name);
            let measured = measure(&label, &url, instances, &out, seconds, connections);
            drop_database(&server_url, &name)?;
            measured?;
        }
    }
    Ok(())
}

/// Seeds a sender on `database_url`, starts `instances` servers on it and runs the load
/// across them.
fn measure(
    label: &str,
    database_url: &str,
    instances: usize,
    dir: &Path,
    seconds: u64,
    connections: usize,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let seeded = {
        let url = db::DatabaseUrl::parse(database_url)?;
        seed_sender(&db::open(&url, 2)?)?
    };
    // Declared before the servers, so dropped after them, on every way out.
    let mail = server::MailDirRemoved(server::mail_dir(dir));
    let servers = (0..instances)
        .map(|_| Server::start(database_url, dir))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let addresses: Vec<SocketAddr> = servers.iter().map(|s| s.address).collect();
    let auth = Arc::new(format!("Bearer {}", seeded.key));
    // One counter across the warm-up and the measured run: every request a new address.
    let next = Arc::new(AtomicU64::new(0));
    let make = move |_| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let body = format!("{{\"list\":\"newsletter\",\"email\":\"new{i}@example.org\"}}");
        load::request(
            "POST",
            "/v1/consents",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            Some(body.as_bytes()),
        )
        .expecting("\"confirmation\":\"queued\"")
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let make = Arc::new(make);
    let warm = Arc::clone(&make);
    runtime.block_on(load::run_across(
        &addresses,
        connections,
        Duration::from_secs(1),
        move |i| warm(i),
    ))?;
    let mailed_before = count_files(&mail.0);
    let report = runtime.block_on(load::run_across(
        &addresses,
        connections,
        Duration::from_secs(seconds),
        move |i| make(i),
    ))?;
    let mailed = count_files(&mail.0) - mailed_before;
    println!("{label:<32} POST /v1/consents, mail queued: {report}");
    println!(
        "{:<32} confirmation mails written to file:// during the run: {mailed} ({:.0}/s)",
        "",
        mailed as f64 / report.elapsed.as_secs_f64()
    );
    Ok(())
}

fn count_files(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count() as u64)
}

/// Creates `name` on the server at `server_url` and returns its URL.
fn create_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    let mut admin = PgConnection::establish(server_url)?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let base = server_url
        .rsplit_once('/')
        .map_or(server_url, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

fn drop_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::establish(server_url)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    Ok(())
}
