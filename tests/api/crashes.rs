//! `consentry serve` killed with SIGKILL in the middle of delivering mail, on the real binary:
//! no acknowledged signup and no mail is lost, a mail the relay got twice carries one
//! Message-ID, and the mails the dead process had leased go out within seconds, from a
//! restarted instance (which takes its own leases back at once) or from another one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::smtp::SmtpServer;
use crate::support::{consentry_cli, event_of, eventually, list_body, BASE_URL};

const SIGNUPS: usize = 24;

/// A `consentry serve` child on `database_url`, its log in `log`.
fn serve(database_url: &str, bind: &str, mail_url: &str, log: &Path) -> Child {
    consentry_cli(database_url)
        .env("CONSENTRY_LOG", "info")
        .env("CONSENTRY_BIND", bind)
        .env("CONSENTRY_BASE_URL", BASE_URL)
        .env("CONSENTRY_MAIL_URL", mail_url)
        // Every signup comes from this test, on one address.
        .env("CONSENTRY_CAP_SIGNUPS_PER_IP_HOUR", "1000")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// A sender with a good standing (no probation cap) and its key, made through the CLI.
fn seed(database_url: &str) -> String {
    let sender = crate::support::cli_sender(database_url, &["--standing", "good"]);
    crate::support::cli_key(database_url, &sender, "sender")
}

async fn ready(client: &reqwest::Client, url: &str) {
    assert!(
        eventually(|| async { client.get(format!("{url}/healthz")).send().await.is_ok() }).await,
        "{url} answers"
    );
}

/// Kills a server while the relay holds its mails mid-delivery, then lets `next` take over
/// (`restart`: the same instance on the same port; otherwise another one).
async fn kill_mid_delivery_then(restart: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _postgres) = crate::support::test_database(dir.path());
    let key = seed(&database_url);
    let smtp = SmtpServer::start().await;
    smtp.hold_replies(true);
    let first_log = dir.path().join("first.log");
    let mut first = serve(&database_url, "127.0.0.1:0", &smtp.url(), &first_log);
    let port = crate::support::cli::listening_port(&first_log).await;
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    ready(&client, &url).await;
    let created = client
        .post(format!("{url}/v1/lists"))
        .bearer_auth(&key)
        .json(&list_body("news"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Every signup answered 202 is acknowledged; each goes to its own domain, so that no
    // domain's turn keeps a mail from flight.
    let mut consents = BTreeMap::new();
    for i in 0..SIGNUPS {
        let email = format!("crash{i}@d{i}.example.jp");
        let answer = client
            .post(format!("{url}/v1/consents"))
            .bearer_auth(&key)
            .json(&json!({"list": "news", "email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["confirmation"], "queued", "{body}");
        consents.insert(email, body["id"].as_str().unwrap().to_owned());
    }
    assert!(
        eventually(|| async { !smtp.mails().is_empty() }).await,
        "a mail is in flight, its answer held"
    );
    first.kill().unwrap();
    let killed = Instant::now();
    first.wait().unwrap();
    let in_flight: BTreeSet<String> = smtp.mails().iter().flat_map(|m| m.to.clone()).collect();
    smtp.hold_replies(false);

    let next_log = dir.path().join("next.log");
    let bind = if restart {
        format!("127.0.0.1:{port}")
    } else {
        "127.0.0.1:0".to_owned()
    };
    let mut next = serve(&database_url, &bind, &smtp.url(), &next_log);
    let next_port = crate::support::cli::listening_port(&next_log).await;
    let next_url = format!("http://127.0.0.1:{next_port}");
    ready(&client, &next_url).await;

    // The mails the dead process had in flight arrive again, within 10 s of its death.
    let mut again = None;
    for _ in 0..400 {
        let arrived: Vec<String> = smtp.mails().iter().flat_map(|m| m.to.clone()).collect();
        if in_flight
            .iter()
            .all(|to| arrived.iter().filter(|a| *a == to).count() >= 2)
        {
            again = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = again.expect("the leased mails were sent again");
    assert!(
        again < Duration::from_secs(10),
        "the dead process's mails went out {again:?} after it died"
    );
    if restart {
        // Well before its 6 s lease could have ended: the restart took its own lease back.
        assert!(again < Duration::from_secs(4), "{again:?} after the kill");
    }

    // Every acknowledged signup is mailed, and recorded as sent with the Message-ID the
    // relay saw on every copy.
    let mails = smtp.wait_for(SIGNUPS).await;
    for (email, id) in &consents {
        let consent = || async {
            let answer = client
                .get(format!("{next_url}/v1/consents/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            answer.json::<Value>().await.unwrap()
        };
        let recorded = eventually(|| async {
            crate::support::event_kinds(&consent().await)
                .iter()
                .any(|k| k == "confirmation_sent")
        })
        .await;
        assert!(recorded, "{email}: confirmation_sent recorded");
        let consent = consent().await;
        let recorded_id = event_of(&consent, "confirmation_sent")["data"]["message_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let copies: BTreeSet<String> = smtp
            .mails()
            .iter()
            .filter(|m| m.to.contains(email))
            .map(|m| m.header("Message-ID").unwrap())
            .collect();
        assert_eq!(copies.len(), 1, "{email}: one Message-ID on every copy");
        let seen = copies.into_iter().next().unwrap();
        assert_eq!(
            seen.trim_matches(['<', '>']),
            recorded_id.trim_matches(['<', '>'])
        );
    }
    assert!(mails.len() >= SIGNUPS);
    next.kill().unwrap();
    next.wait().unwrap();
}

#[tokio::test]
async fn a_restarted_server_sends_what_it_was_killed_sending_again_with_one_message_id() {
    kill_mid_delivery_then(true).await;
}

#[tokio::test]
async fn another_instance_sends_what_a_killed_one_had_leased_within_seconds() {
    kill_mid_delivery_then(false).await;
}
