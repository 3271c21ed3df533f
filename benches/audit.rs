//! Audit throughput on SQLite with 1,000,000 ledger events: export by the CLI (events/s and
//! the exporting process's peak RSS), export over HTTP from `consentry serve` (events/s and
//! the server's peak RSS), offline verification of the exported file (events/s), and online
//! verification of the stored chain. Prints figures; asserts nothing.
//!
//! `cargo bench --bench audit` (`BENCH_EVENTS`, default 1000000).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use consentry::clock;
use consentry::db::ledger::{append_event, NewEvent};
use consentry::db::{self, write_transaction};
use consentry::domain::api_key::Role;
use consentry::domain::event_kind::EventKind;
use consentry::domain::ids::{ConsentId, SenderId};
use consentry::domain::sender::SenderProfile;
use consentry_ledger::pii::Pii;
use secrecy::ExposeSecret;
use serde_json::json;

const SIGNING_KEYS: &str = "bench1:YmVuY2gtc2lnbmluZy1rZXktc2VlZC0wMTIzNDU2Nzg";
const PEPPER: &str = "bench-pepper-bench-pepper-bench-pepper-0123456789";
const TOKEN_KEYS: &str = "b1:YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMDEyMzQ1Njc4OQ";

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let (sender_id, auditor_key) = seed(&database_url, n)?;

    let file = dir.path().join("export.ndjson");
    let (elapsed, peak) = run_measured(
        consentry(&database_url)
            .args(["audit", "export", "--sender", &sender_id, "--out"])
            .arg(&file),
    )?;
    let exported = n + 1;
    println!(
        "CLI export: {exported} events in {:.2} s = {:.0} events/s; peak RSS {peak:.1} MiB; file {:.0} MiB",
        elapsed.as_secs_f64(),
        exported as f64 / elapsed.as_secs_f64(),
        std::fs::metadata(&file)?.len() as f64 / (1024.0 * 1024.0)
    );

    let keys = dir.path().join("jwks.json");
    let jwks = consentry(&database_url)
        .args(["audit", "public-key"])
        .output()?;
    std::fs::write(&keys, jwks.stdout)?;
    let (elapsed, peak) = run_measured(
        consentry(&database_url)
            .args(["audit", "verify"])
            .arg(&file)
            .arg("--keys")
            .arg(&keys),
    )?;
    println!(
        "offline verification: {exported} events in {:.2} s = {:.0} events/s; peak RSS {peak:.1} MiB",
        elapsed.as_secs_f64(),
        exported as f64 / elapsed.as_secs_f64()
    );

    over_http(&database_url, dir.path(), &auditor_key)
}

fn consentry(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consentry"));
    command
        .env("CONSENTRY_DATABASE_URL", database_url)
        .env("CONSENTRY_SIGNING_KEYS", SIGNING_KEYS)
        .env("CONSENTRY_PEPPER", PEPPER)
        .env("CONSENTRY_TOKEN_KEYS", TOKEN_KEYS)
        .env("CONSENTRY_LOG", "error");
    command
}

/// A sender, an auditor key and `n` events shaped like real traffic (a third of them with
/// personal data), appended through the ledger's own code.
fn seed(database_url: &str, n: u64) -> anyhow::Result<(String, String)> {
    let url = db::DatabaseUrl::parse(database_url)?;
    let db = db::open(&url, 2)?;
    let profile = SenderProfile::parse("Bench", "Bench KK", "Tokyo", "b@example.jp", None, "JP")?;
    let sender_id = SenderId::parse(&consentry::cli::sender::create_sender_in(
        &db,
        profile,
        Some(consentry::domain::standing::Standing::Good),
    )?)?;
    let (_, auditor) = consentry::cli::key::create_key(&db, sender_id.as_str(), Role::Auditor)?;
    let started = Instant::now();
    let mut conn = db.get()?;
    let consent = ConsentId::new();
    let subject = "7".repeat(64);
    for chunk in (0..n).step_by(10_000) {
        write_transaction(&mut conn, |conn| {
            for i in chunk..(chunk + 10_000).min(n) {
                let (kind, data, pii) = match i % 3 {
                    0 => (
                        EventKind::Requested,
                        json!({"repeat": false, "locale": "ja", "collection_method": "web_form",
                               "source_url": "https://shop.example.jp/signup", "confirmation": "queued",
                               "consent_text_sha256": "a".repeat(64), "evidence_sha256": "b".repeat(64)}),
                        Some(Pii {
                            email: Some(format!("user{i}@example.jp")),
                            ip: Some("203.0.113.7".into()),
                            user_agent: Some(
                                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)".into(),
                            ),
                            ..Pii::default()
                        }),
                    ),
                    1 => (
                        EventKind::ConfirmationSent,
                        json!({"message_id": format!("<{i}@consent.example.jp>"), "message_sha256": "c".repeat(64), "attempt": 1}),
                        None,
                    ),
                    _ => (
                        EventKind::Checked,
                        json!({"count": 1000, "allowed": 998, "results_sha256": "d".repeat(64), "complete": true}),
                        None,
                    ),
                };
                let event = NewEvent {
                    consent_id: Some(&consent),
                    list_slug: Some("newsletter"),
                    subject_key: Some(&subject),
                    pii,
                    ..NewEvent::new(kind, data)
                };
                append_event(conn, &sender_id, event, clock::now(), &Default::default())?;
            }
            Ok(())
        })?;
    }
    println!(
        "seeded {n} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok((sender_id.into_string(), auditor.expose_secret().to_owned()))
}

/// Runs a command to completion; (wall time, peak RSS in MiB sampled every 5 ms).
fn run_measured(command: &mut Command) -> anyhow::Result<(Duration, f64)> {
    let started = Instant::now();
    let mut child = command.stdout(Stdio::null()).spawn()?;
    let mut peak = 0.0f64;
    loop {
        peak = peak.max(peak_rss_mib(child.id()));
        if let Some(status) = child.try_wait()? {
            anyhow::ensure!(status.success(), "{command:?} failed: {status}");
            return Ok((started.elapsed(), peak));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// VmHWM (peak resident set) of a process, in MiB; 0 once it has gone.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET /v1/audit/events` and `GET /v1/audit/verify` against `consentry serve`.
fn over_http(database_url: &str, dir: &Path, auditor_key: &str) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let server = Server(
        consentry(database_url)
            .arg("serve")
            .env("CONSENTRY_BIND", format!("127.0.0.1:{port}"))
            .env(
                "CONSENTRY_MAIL_URL",
                format!("file://{}", dir.join("mail").display()),
            )
            .spawn()?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let started = Instant::now();
        let mut response = client
            .get(format!("{base}/v1/audit/events"))
            .bearer_auth(auditor_key)
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "export answered {}", response.status());
        let (mut lines, mut bytes) = (0u64, 0u64);
        while let Some(chunk) = response.chunk().await? {
            lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            bytes += chunk.len() as u64;
        }
        let elapsed = started.elapsed();
        let events = lines.saturating_sub(1);
        println!(
            "HTTP export: {events} events ({:.0} MiB) in {:.2} s = {:.0} events/s; server peak RSS {:.1} MiB",
            bytes as f64 / (1024.0 * 1024.0),
            elapsed.as_secs_f64(),
            events as f64 / elapsed.as_secs_f64(),
            peak_rss_mib(server.0.id())
        );

        let started = Instant::now();
        let report: serde_json::Value = client
            .get(format!("{base}/v1/audit/verify"))
            .bearer_auth(auditor_key)
            .send()
            .await?
            .json()
            .await?;
        let elapsed = started.elapsed();
        println!(
            "online verification: {} events in {:.2} s = {:.0} events/s (ok: {})",
            report["events"],
            elapsed.as_secs_f64(),
            report["events"].as_f64().unwrap_or(0.0) / elapsed.as_secs_f64(),
            report["ok"]
        );
        Ok(())
    })
}
