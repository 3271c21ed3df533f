//! Throughput of the consent path, against `consentry serve` in child processes: single
//! checks/s next to `/healthz` on the same servers (a check counts only as a `200` that says
//! `"allowed":true`), their ratio by rate and by the servers' CPU per answer, and a batch
//! check of every seeded address (addresses/s and the server's memory, anonymous and mapped
//! file apart). Signups have their own benchmark (`benches/signups.rs`). Prints figures;
//! asserts nothing.
//!
//! SQLite with one instance; with `BENCH_POSTGRES_URL` (a server URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`) also PostgreSQL with two instances sharing
//! a database the run creates, seeds and drops.
//!
//! `cargo bench --bench check` (`BENCH_SUBSCRIPTIONS` 1,000,000, `BENCH_SECONDS` 5,
//! `BENCH_ROUNDS` 3, `BENCH_CONNECTIONS` 64, `BENCH_SERVER_BIN`). Seeding a million
//! subscriptions takes a few minutes; `BENCH_SQLITE_DIR=DIR` keeps the seeded SQLite
//! database there for the next run (and `BENCH_POSTGRES_DB=NAME` the PostgreSQL one, its key
//! in that folder), `BENCH_SKIP_SQLITE=1` measures PostgreSQL alone.

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
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::PgConnection;
use futures_util::StreamExt;
use server::{env_number, proc_rollup_mib, proc_status_mib, seed_sender, Seeded, Server, PEPPER};

/// "0.47 (median of 3 rounds: 0.43, 0.47, 0.49)".
fn median_of(mut ratios: Vec<f64>) -> String {
    ratios.sort_by(f64::total_cmp);
    let all: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    format!(
        "{:.2} (median of {} rounds: {})",
        ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN),
        ratios.len(),
        all.join(", ")
    )
}

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
        consentry::on_backend!(&mut *conn, |c| c.transaction(|c| {
            diesel::insert_into(subscriptions::table)
                .values(&subs)
                .execute(c)?;
            diesel::insert_into(consents::table)
                .values(&rows)
                .execute(c)
        }))?;
    }
    if let DbConn::Postgres(pg) = &mut *conn {
        // As autovacuum leaves a table in service: hint bits set, statistics current. The
        // first reads of freshly loaded rows would otherwise write every page once.
        pg.batch_execute("VACUUM (ANALYZE) subscriptions, consents")?;
    }
    println!(
        "seeded {n} confirmed subscriptions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(key)
}

/// CPU time (user and system) the servers have used so far, in seconds: what an answer
/// costs the server is steadier than a rate on a machine whose other tenants vary.
fn servers_cpu_seconds(servers: &[Server]) -> f64 {
    servers.iter().map(|s| server::cpu_seconds(s.pid())).sum()
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
    let bench = Bench {
        subscriptions,
        seconds: env_number("BENCH_SECONDS", 5),
        rounds: env_number("BENCH_ROUNDS", 3).max(1),
        connections: env_number("BENCH_CONNECTIONS", 64) as usize,
        client_threads: env_number("BENCH_CLIENT_THREADS", 1) as usize,
    };
    println!(
        "{} cores, {} connections from {} load thread(s), {} s per run, {subscriptions} confirmed subscriptions",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench.connections,
        bench.client_threads,
        bench.seconds,
    );
    let temp = tempfile::tempdir()?;
    let dir = std::env::var_os("BENCH_SQLITE_DIR")
        .map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    let sqlite = format!("sqlite://{}", dir.join("bench.db").display());
    let key_file = dir.join(format!("bench-{subscriptions}.key"));
    if std::env::var_os("BENCH_SKIP_SQLITE").is_none() {
        let key = match std::fs::read_to_string(&key_file) {
            Ok(key) => key,
            Err(_) => {
                let _ = std::fs::remove_file(dir.join("bench.db"));
                let key = seed(&sqlite, subscriptions)?;
                std::fs::write(&key_file, &key)?;
                key
            }
        };
        bench.run("SQLite, 1 instance", &sqlite, 1, &key, &dir)?;
    }

    if let Ok(server_url) = std::env::var("BENCH_POSTGRES_URL") {
        // `BENCH_POSTGRES_DB=NAME` keeps the seeded database for the next run, as
        // `BENCH_SQLITE_DIR` does; otherwise the run creates and drops its own.
        let kept = std::env::var("BENCH_POSTGRES_DB").ok();
        let name = kept
            .clone()
            .unwrap_or_else(|| format!("consentry_bench_check_{}", std::process::id()));
        let mut admin = PgConnection::establish(&server_url)?;
        let key_file = dir.join(format!("bench-pg-{name}-{subscriptions}.key"));
        let seeded_key = kept
            .as_ref()
            .and_then(|_| std::fs::read_to_string(&key_file).ok());
        if seeded_key.is_none() {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
            admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        }
        let base = server_url.rsplit_once('/').map_or(&*server_url, |(b, _)| b);
        let url = format!("{base}/{name}");
        let key = match seeded_key {
            Some(key) => Ok(key),
            None => seed(&url, subscriptions).inspect(|key| {
                if kept.is_some() {
                    let _ = std::fs::write(&key_file, key);
                }
            }),
        };
        let measured =
            key.and_then(|key| bench.run("PostgreSQL, 2 instances", &url, 2, &key, temp.path()));
        if kept.is_none() {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        }
        measured?;
    }
    Ok(())
}

struct Bench {
    subscriptions: u64,
    seconds: u64,
    /// Rounds of `/healthz` then checks (`BENCH_ROUNDS`).
    rounds: u64,
    connections: usize,
    /// Threads of the load generator (`BENCH_CLIENT_THREADS`).
    client_threads: usize,
}

impl Bench {
    /// Starts `instances` servers on the seeded database and measures them, the load spread
    /// over all of them.
    fn run(
        &self,
        label: &str,
        database_url: &str,
        instances: usize,
        key: &str,
        dir: &std::path::Path,
    ) -> anyhow::Result<()> {
        let _mail = server::MailDirRemoved(server::mail_dir(dir));
        let servers = (0..instances)
            .map(|_| Server::start(database_url, dir))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let addresses: Vec<SocketAddr> = servers.iter().map(|s| s.address).collect();
        let pid = servers[0].pid();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        println!(
            "== {label}; first server's RSS after start {:.0} MiB",
            server_rss(pid)
        );
        let measure = |name: &str, make: Box<dyn Fn(u64) -> load::Template + Send + Sync>| {
            let make = std::sync::Arc::new(make);
            let warm = make.clone();
            let second = Duration::from_secs(1);
            load::run_across_threads(
                &addresses,
                self.connections,
                second,
                self.client_threads,
                move |i| warm(i),
            )?;
            let span = Duration::from_secs(self.seconds);
            let cpu_before = servers_cpu_seconds(&servers);
            let report = load::run_across_threads(
                &addresses,
                self.connections,
                span,
                self.client_threads,
                move |i| make(i),
            )?;
            let cpu = servers_cpu_seconds(&servers) - cpu_before;
            let cpu_per_answer = cpu / report.requests.max(1) as f64;
            println!(
                "{name:<42} {report}; servers' CPU {:.1} µs per answer",
                cpu_per_answer * 1e6
            );
            anyhow::ensure!(report.errors == 0, "{name}: {} errors", report.errors);
            Ok::<_, anyhow::Error>((report.rate(), cpu_per_answer))
        };

        // `/healthz` and the check alternate, round after round, and the ratio is the median
        // of each round's: on a shared 2-core machine the rate of either drifts by a tenth
        // from one minute to the next, and a ratio of two runs minutes apart drifts with it.
        let auth = format!("Bearer {key}");
        let subscriptions = self.subscriptions.max(1);
        let (mut ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
        for _ in 0..self.rounds {
            let (health, health_cpu) = measure(
                "GET /healthz",
                Box::new(|_| load::request("GET", "/healthz", &[], None)),
            )?;
            let auth = auth.clone();
            let (checks, check_cpu) = measure(
                "GET /v1/check (confirmed, random address)",
                Box::new(move |i| {
                    let n = (i.wrapping_mul(2_654_435_761)) % subscriptions;
                    let path = format!("/v1/check?list=newsletter&email={}", email(n));
                    load::request("GET", &path, &[("Authorization", &auth)], None)
                        .expecting("\"allowed\":true")
                }),
            )?;
            ratios.push(checks / health);
            cpu_ratios.push(health_cpu / check_cpu.max(f64::MIN_POSITIVE));
        }
        println!("{label}: ratio checks/healthz {}", median_of(ratios));
        // The same ratio as the servers' CPU per answer gives it, for a client on another
        // machine: here `/healthz` is held back by the load generator that shares the two
        // cores. The servers' processes only; PostgreSQL's own CPU is not in it.
        println!(
            "{label}: by the servers' CPU per answer, healthz/check {}",
            median_of(cpu_ratios)
        );

        let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = {
            let sampling = sampling.clone();
            std::thread::spawn(move || {
                let mut peak = (0.0f64, 0.0f64);
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    peak.0 = peak.0.max(proc_status_mib(pid, "RssAnon:"));
                    peak.1 = peak.1.max(proc_status_mib(pid, "RssFile:"));
                    std::thread::sleep(Duration::from_millis(20));
                }
                peak
            })
        };
        let batched = runtime.block_on(batch(addresses[0], key, self.subscriptions));
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        let (anon, file) = sampler.join().unwrap_or_default();
        let (answered, elapsed) = batched?;
        // Each SQLite connection maps the database file on its own, and RSS counts a page
        // once for every mapping that has touched it; PSS shares each page among its
        // mappings, so it counts the file's pages once. Read once, after the batch: the
        // pages stay mapped until the connections close.
        let distinct = proc_rollup_mib(pid, "Pss_File:");
        println!(
            "POST /v1/check batch: {answered} addresses in {:.2} s = {:.0} addresses/s; the \
             server's peak RSS during it: {anon:.0} MiB anonymous, {file:.0} MiB mapped file \
             ({distinct:.0} MiB of it distinct pages)",
            elapsed.as_secs_f64(),
            answered as f64 / elapsed.as_secs_f64(),
        );
        Ok(())
    }
}
