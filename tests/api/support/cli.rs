//! The `consentry` binary for CLI tests, and the one place tests seed senders and keys
//! through the library (so the call path changes here only).

use consentry::cli::{key, sender};
use consentry::db::Db;
use consentry::domain::api_key::Role;
use consentry::domain::sender::SenderProfile;
use secrecy::ExposeSecret;
use serde_json::Value;

/// A sender made as the CLI makes one, with a sender key and an auditor key.
pub struct SeededSender {
    pub id: String,
    pub sender_key: String,
    pub auditor_key: String,
}

/// Creates a sender with a sender key and an auditor key, as the CLI does; returns
/// (sender id, sender key, auditor key).
pub async fn seed_sender(db: &Db, name: &str) -> (String, String, String) {
    let seeded = seed(db, name).await;
    (seeded.id, seeded.sender_key, seeded.auditor_key)
}

/// [`seed_sender`] with named fields.
pub async fn seed(db: &Db, name: &str) -> SeededSender {
    let db = db.clone();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let profile = SenderProfile::parse(
            &name,
            &format!("{name} K.K."),
            "1-2-3 Chiyoda, Tokyo",
            "privacy@example.jp",
            None,
            "JP",
        )
        .unwrap();
        let id = sender::create_sender(&db, profile).unwrap();
        let (_, sender_key) = key::create_key(&db, &id, Role::Sender).unwrap();
        let (_, auditor_key) = key::create_key(&db, &id, Role::Auditor).unwrap();
        SeededSender {
            id,
            sender_key: sender_key.expose_secret().to_owned(),
            auditor_key: auditor_key.expose_secret().to_owned(),
        }
    })
    .await
    .unwrap()
}

/// Runs a command that must succeed and print one JSON value; that value.
pub fn json_output(command: &mut std::process::Command) -> Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A sender made with `consentry sender create`, as an operator would; `extra` adds flags
/// (`--standing good`, say). Its id.
pub fn cli_sender(database_url: &str, extra: &[&str]) -> String {
    let sender = json_output(
        consentry_cli(database_url)
            .args([
                "sender",
                "create",
                "--name",
                "Shop",
                "--legal-name",
                "Shop KK",
            ])
            .args(["--postal-address", "1-2-3 Chiyoda"])
            .args(["--contact", "privacy@shop.example.jp", "--json"])
            .args(extra),
    );
    sender["id"].as_str().unwrap().to_owned()
}

/// A key made with `consentry key create` for `sender` in `role`; its secret.
pub fn cli_key(database_url: &str, sender: &str, role: &str) -> String {
    let key = json_output(consentry_cli(database_url).args([
        "key", "create", "--sender", sender, "--role", role, "--json",
    ]));
    key["key"].as_str().unwrap().to_owned()
}

/// The `consentry` binary with a clean environment on `database_url`.
pub fn consentry_cli(database_url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_consentry"));
    command
        .env_clear()
        .env("CONSENTRY_DATABASE_URL", database_url)
        .env("CONSENTRY_LOG", "warn");
    command
}

/// The port a `consentry serve` bound, read from its log (`consentry listening ... port=N`);
/// waits for the line, fails after a generous bound.
pub async fn listening_port(log_path: &std::path::Path) -> u16 {
    for _ in 0..600 {
        let log = without_colours(&std::fs::read_to_string(log_path).unwrap_or_default());
        if let Some(line) = log.lines().find(|l| l.contains("consentry listening")) {
            let at = line.find("port").expect("the port in the listening line") + 4;
            let digits: String = line[at..]
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            return digits.parse().expect("a port number");
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the server never logged its port: {}", log_path.display());
}

/// `text` without ANSI escape sequences (`ESC [ ... m`), as a terminal would show it.
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
