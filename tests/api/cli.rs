//! The `consentry` binary: sender and key commands, revocation, the demo, bad URLs, SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{
    consentry_cli as consentry, eventually, json_output, list_body, test_database, test_settings,
};

#[tokio::test]
async fn keys_made_by_the_cli_work_until_the_cli_revokes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _postgres) = test_database(dir.path());
    let sender_id = &crate::support::cli_sender(&database_url, &[]);
    let key = json_output(consentry(&database_url).args([
        "key", "create", "--sender", sender_id, "--role", "sender", "--json",
    ]));
    let (key_id, secret) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    assert!(secret.starts_with(&format!("csk_{key_id}_")));

    let app = consentry::startup::Application::build(test_settings(&database_url, dir.path()))
        .await
        .unwrap();
    let url = app.local_url();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let lists = format!("{url}/v1/lists");
    let response = client
        .post(&lists)
        .bearer_auth(secret)
        .json(&list_body("news"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let revoked = consentry(&database_url)
        .args(["key", "revoke", key_id])
        .output()
        .unwrap();
    assert!(revoked.status.success());
    assert!(
        eventually(|| async {
            client
                .get(&lists)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
                == 401
        })
        .await
    );
    let again = consentry(&database_url)
        .args(["key", "revoke", "0000"])
        .output()
        .unwrap();
    assert!(!again.status.success());
}

#[tokio::test]
async fn a_key_for_an_unknown_sender_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _postgres) = test_database(dir.path());

    let output = consentry(&database_url)
        .args(["key", "create", "--sender", "nobody", "--role", "sender"])
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no sender"));
}

#[test]
fn an_unknown_database_scheme_is_an_error_not_a_new_file() {
    let dir = tempfile::tempdir().unwrap();

    let output = consentry("mysql://root@localhost/consentry")
        .current_dir(dir.path())
        .arg("migrate")
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("sqlite://"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn the_demo_prints_a_key_that_creates_a_list_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _postgres) = test_database(dir.path());
    let mut child = consentry(&database_url)
        .env("CONSENTRY_BIND", "127.0.0.1:0")
        .env(
            "CONSENTRY_MAIL_URL",
            format!("file://{}", dir.path().join("mail").display()),
        )
        .arg("demo")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut key) = (String::new(), String::new());
    while key.is_empty() {
        let line = lines.next().expect("demo output").unwrap();
        if let Some(rest) = line.strip_prefix("Consentry demo is running at ") {
            url = rest.split_whitespace().next().unwrap().to_owned();
        }
        if let Some(rest) = line.trim().strip_prefix("sender key") {
            key = rest.trim().to_owned();
        }
    }

    let response = reqwest::Client::new()
        .post(format!("{url}/v1/lists"))
        .bearer_auth(&key)
        .json(&list_body("offers"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}
