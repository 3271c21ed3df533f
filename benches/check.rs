//! Throughput of the consent path on SQLite, against `consentry serve` in a child process:
//! single checks/s next to `/healthz`, a 1,000,000-address batch check against 1,000,000
//! subscriptions (addresses/s and the server's peak RSS), and signups/s with mail enqueued.
//! Prints figures; asserts nothing.
//!
//! `cargo bench --bench check` (`BENCH_SUBSCRIPTIONS`, `BENCH_SECONDS`, `BENCH_CONNECTIONS`).

#[path = "load.rs"]
mod load;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use consentry::clock;
use consentry::db::consents::ConsentRow;
use consentry::db::schema::{consents, subscriptions};
use consentry::db::subscriptions::SubscriptionRow;
use consentry::db::{self, lists, DbConn};
use consentry::domain::api_key::Role;
use consentry::domain::email::{AddressHasher, EmailAddress};
use consentry::domain::ids::{ConsentId, SenderId, SubscriptionId};
use consentry::domain::list::ConsentText;
use consentry::domain::sender::SenderProfile;
use consentry::domain::status::{ConsentStatus, SubscriptionStatus};
use diesel::prelude::*;
use futures_util::StreamExt;
use secrecy::ExposeSecret;

const PEPPER: &str = "bench-pepper-bench-pepper-bench-pepper-0123456789";
const TOKEN_KEYS: &str = "b1:YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMDEyMzQ1Njc4OQ";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn email(i: u64) -> String {
    format!("user{i}@example.jp")
}

/// Creates the sender, key and list, and `n` confirmed subscriptions, straight into storage.
fn seed(database_url: &str, n: u64) -> anyhow::Result<String> {
    let url = db::DatabaseUrl::parse(database_url)?;
    let db = db::open(&url, 2)?;
    let profile = SenderProfile::parse("Bench", "Bench KK", "Tokyo", "b@example.jp", None, "JP")?;
    let sender_id = SenderId::parse(&consentry::cli::sender::create_sender_in(
        &db,
        profile,
        Some(consentry::domain::standing::Standing::Good),
    )?)?;
    let (_, key) = consentry::cli::key::create_key(&db, sender_id.as_str(), Role::Sender)?;
    let text = ConsentText::parse("I agree to receive offers.")?;
    let now = clock::now();
    let (list, first) = lists::new_list_rows(
        &sender_id,
        "newsletter",
        "Offers".into(),
        &text,
        "https://example.jp/p".into(),
        "ja",
        now,
    );
    lists::insert_list(&mut *db.get()?, &list, &first)?;

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
                consent_text_sha256: text.sha256().to_owned(),
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
    Ok(key.expose_secret().to_owned())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Server {
    child: Child,
    address: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(database_url: &str, dir: &std::path::Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let child = Command::new(env!("CARGO_BIN_EXE_consentry"))
            .arg("serve")
            .env("CONSENTRY_DATABASE_URL", database_url)
            .env("CONSENTRY_BIND", format!("127.0.0.1:{port}"))
            .env("CONSENTRY_PEPPER", PEPPER)
            .env("CONSENTRY_TOKEN_KEYS", TOKEN_KEYS)
            .env(
                "CONSENTRY_MAIL_URL",
                format!("file://{}", dir.join("mail").display()),
            )
            .env("CONSENTRY_SENDER_RATE_PER_SECOND", "10000000")
            .env("CONSENTRY_SENDER_BURST", "10000000")
            .env("CONSENTRY_LOG", "error")
            .stdout(Stdio::null())
            .spawn()?;
        let address: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        for _ in 0..200 {
            if std::net::TcpStream::connect(address).is_ok() {
                return Ok(Self { child, address });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!("server did not start")
    }

    /// Peak resident set size of the server process (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        proc_status_mib(self.child.id(), "VmHWM:")
    }
}

fn proc_status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
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
    println!("server pid {}", server.child.id());
    let address = server.address;
    let auth = format!("Bearer {key}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "{} cores, {connections} connections, {seconds} s per run, release build, SQLite",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let pid = server.child.id();
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

    let signup_auth = auth.clone();
    // Every request a new address, across the warm-up and the measured run.
    let next = std::sync::atomic::AtomicU64::new(0);
    measure(
        "POST /v1/consents (new address, mail enqueued)",
        Box::new(move |_| {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let body = format!("{{\"list\":\"newsletter\",\"email\":\"new{i}@example.org\"}}");
            load::request(
                "POST",
                "/v1/consents",
                &[
                    ("Authorization", &signup_auth),
                    ("Content-Type", "application/json"),
                ],
                Some(body.as_bytes()),
            )
        }),
    )?;
    Ok(())
}
