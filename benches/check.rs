//! Throughput of the consent path on SQLite, against `consentry serve` in a child process:
//! single checks/s next to `/healthz`, a 1,000,000-address batch check against 1,000,000
//! subscriptions (addresses/s and the server's peak RSS). Signups have their own benchmark
//! (`benches/signups.rs`).
//! Prints figures; asserts nothing.
//!
//! `cargo bench --bench check` (`BENCH_SUBSCRIPTIONS`, `BENCH_SECONDS`, `BENCH_CONNECTIONS`).

#[path = "load.rs"]
mod load;
#[path = "server.rs"]
mod server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use consentry::clock;
use consentry::db::consents::ConsentRow;
use consentry::db::schema::{consents, subscriptions};
use consentry::db::subscriptions::SubscriptionRow;
use consentry::db::{self, DbConn};
use consentry::domain::email::{AddressHasher, EmailAddress};
use consentry::domain::ids::{ConsentId, SubscriptionId};
use consentry::domain::status::{ConsentStatus, SubscriptionStatus};
use diesel::prelude::*;
use futures_util::StreamExt;
use server::{env_number, proc_status_mib, seed_sender, Seeded, Server, PEPPER};

fn email(i: u64) -> String {
    format!("user{i}@example.jp")
}

/// Creates the sender, key and list, and `n` confirmed subscriptions, straight into storage.
fn seed(database_url: &str, n: u64) -> anyhow::Result<String> {
    let url = db::DatabaseUrl::parse(database_url)?;
    let db = db::open(&url, 2)?;
    let Seeded {
        sender_id,
        key,
        list,
    } = seed_sender(&db)?;
    let now = clock::now();
    let text_sha256 = consentry::domain::list::ConsentText::parse("I agree to receive offers.")?
        .sha256()
        .to_owned();
    let hasher = AddressHasher::new(PEPPER.as_bytes());
    let mut conn = db.get()?;
    let DbConn::Sqlite(lite) = &mut *conn else {
        anyhow::bail!("seeding is written for SQLite");
    };
    let started = Instant::now();
    for chunk_start in (0..n).step_by(1000) {
        let mut subs = Vec::with_capacity(1000);
        let mut rows = Vec::with_capacity(1000);
        for i in chunk_start..(chunk_start + 1000).min(n) {
            let address = EmailAddress::parse(&email(i))?;
            let (sub_id, consent_id) = (SubscriptionId::new(), ConsentId::new());
            subs.push(SubscriptionRow {
                id: sub_id.clone(),
                sender_id: sender_id.clone(),
                list_id: list.id.clone(),
                address_key: hasher.address_key(&address),
                abuse_key: hasher.abuse_key(&address),
                email: Some(address.as_str().to_owned()),
                status: SubscriptionStatus::Confirmed,
                current_consent_id: consent_id.clone(),
                confirmed_at: Some(now),
                evidence_sha256: "0".repeat(64),
                updated_at: now,
            });
            rows.push(ConsentRow {
                id: consent_id,
                sender_id: sender_id.clone(),
                list_id: list.id.clone(),
                subscription_id: sub_id,
                status: ConsentStatus::Confirmed,
                locale: "ja".into(),
                consent_text_sha256: text_sha256.clone(),
                collection_method: "web_form".into(),
                source_url: None,
                collected_at: None,
                evidence_sha256: "0".repeat(64),
                client_ip_key: None,
                network_key: None,
                nonce: "0".repeat(24),
                mail_count: 1,
                last_mailed_at: Some(now),
                requested_at: now,
                confirmed_at: Some(now),
                ended_at: None,
                expires_at: now,
                minimised_at: None,
            });
        }
        lite.transaction(|c| {
            diesel::insert_into(subscriptions::table)
                .values(&subs)
                .execute(c)?;
            diesel::insert_into(consents::table)
                .values(&rows)
                .execute(c)
        })?;
    }
    println!(
        "seeded {n} confirmed subscriptions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(key)
}

fn server_rss(pid: u32) -> f64 {
    proc_status_mib(pid, "VmRSS:")
}

/// Streams `n` NDJSON lines to `POST /v1/check` and counts the answer lines.
async fn batch(address: SocketAddr, key: &str, n: u64) -> anyhow::Result<(u64, Duration)> {
    let lines = futures_util::stream::iter((0..n).step_by(10_000).map(move |start| {
        let mut chunk = String::with_capacity(10_000 * 40);
        for i in start..(start + 10_000).min(n) {
            chunk.push_str(&format!("{{\"email\":\"{}\"}}\n", email(i)));
        }
        Ok::<_, std::io::Error>(chunk)
    }));
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("http://{address}/v1/check?list=newsletter"))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(lines))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "batch answered {}",
        response.status()
    );
    let (mut answered, mut allowed) = (0u64, 0u64);
    let mut partial = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        partial.extend_from_slice(&chunk?);
        let complete = partial
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        for line in partial[..complete]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            answered += 1;
            allowed += u64::from(line.windows(14).any(|w| w == b"\"allowed\":true"));
        }
        partial.drain(..complete);
    }
    anyhow::ensure!(allowed == n, "expected {n} allowed answers, got {allowed}");
    Ok((answered, started.elapsed()))
}

fn main() -> anyhow::Result<()> {
    let subscriptions = env_number("BENCH_SUBSCRIPTIONS", 1_000_000);
    let seconds = env_number("BENCH_SECONDS", 5);
    let connections = env_number("BENCH_CONNECTIONS", 64) as usize;
    let dir = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let key = seed(&database_url, subscriptions)?;
    let server = Server::start(&database_url, dir.path())?;
    println!("server pid {}", server.pid());
    let address = server.address;
    let auth = format!("Bearer {key}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "{} cores, {connections} connections, {seconds} s per run, release build, SQLite",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let pid = server.pid();
    println!("server RSS after start {:.0} MiB", server_rss(pid));
    let measure = |name: &str,
                   make: Box<dyn Fn(u64) -> load::Template + Send + Sync>|
     -> anyhow::Result<f64> {
        let make = std::sync::Arc::new(make);
        let warm = make.clone();
        runtime.block_on(load::run_with(
            address,
            connections,
            Duration::from_secs(1),
            move |i| warm(i),
        ))?;
        let report = runtime.block_on(load::run_with(
            address,
            connections,
            Duration::from_secs(seconds),
            move |i| make(i),
        ))?;
        println!("{name:<40} {report}");
        println!("{:<40} server RSS now {:.0} MiB", "", server_rss(pid));
        anyhow::ensure!(report.errors == 0, "{name}: {} errors", report.errors);
        Ok(report.rate())
    };

    let health = measure(
        "GET /healthz",
        Box::new(|_| load::request("GET", "/healthz", &[], None)),
    )?;
    let check_auth = auth.clone();
    let checks = measure(
        "GET /v1/check (confirmed, random address)",
        Box::new(move |i| {
            let n = (i.wrapping_mul(2_654_435_761)) % subscriptions.max(1);
            let path = format!("/v1/check?list=newsletter&email={}", email(n));
            load::request("GET", &path, &[("Authorization", &check_auth)], None)
        }),
    )?;
    println!("ratio checks/healthz: {:.2}", checks / health);

    let (answered, elapsed) = runtime.block_on(batch(address, &key, subscriptions))?;
    println!(
        "POST /v1/check batch: {answered} addresses in {:.2} s = {:.0} addresses/s; server peak RSS {:.0} MiB \
         (now: {:.0} MiB anonymous, {:.0} MiB mapped database file)",
        elapsed.as_secs_f64(),
        answered as f64 / elapsed.as_secs_f64(),
        server.peak_rss_mib(),
        proc_status_mib(pid, "RssAnon:"),
        proc_status_mib(pid, "RssFile:"),
    );

    Ok(())
}
