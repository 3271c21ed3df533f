//! The outbox survives an SMTP outage and a restart: nothing queued is lost.

use std::sync::{Arc, Mutex};

use crate::support::smtp::DownSmtpServer;
use crate::support::{event_kinds, eventually, spawn_app, TestApp};

#[tokio::test]
async fn a_mail_queued_while_smtp_is_down_is_delivered_once_it_is_back() {
    let down = DownSmtpServer::reserve();
    let app = TestApp::builder().mail_url(down.url()).spawn().await;
    app.given_list("newsletter").await;

    let id = app.signup("newsletter", "patient@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        eventually(|| async { app.mail_attempts(&id).await >= 1 }).await,
        "a failed attempt"
    );
    let smtp = down.start();

    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, ["patient@example.jp"]);
    let sent = eventually(|| async {
        let consent = app.consent(&id).await;
        event_kinds(&consent)
            .iter()
            .any(|k| k == "confirmation_sent")
    })
    .await;
    assert!(sent);
    assert_eq!(smtp.mails().len(), 1, "delivered once");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"consentry_mail_attempts_total{outcome="sent"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(r#"consentry_mail_attempts_total{outcome="failed"}"#)),
        "failed attempts are counted: {metrics}"
    );
}

/// The value of one counter or gauge line in `/metrics`, 0 when it is not there yet.
fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_relay_that_refuses_connections_holds_the_queue_behind_one_probe_and_loses_nothing() {
    const FAILED: &str = r#"consentry_mail_attempts_total{outcome="failed"}"#;
    let down = DownSmtpServer::reserve();
    // One mail in flight, so that the first failure is exactly one attempt.
    let app = TestApp::builder()
        .mail_url(down.url())
        .setting("mail_concurrency", 1)
        .spawn()
        .await;
    app.given_list("newsletter").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let answer = app
            .signup("newsletter", &format!("held{i}@example.jp"))
            .await;
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }

    // Two probes have failed after the first attempt: the relay has been down a while.
    assert!(
        eventually(|| async { metric(&app.metrics().await, FAILED) >= 3 }).await,
        "the relay is probed"
    );
    let metrics = app.metrics().await;
    assert_eq!(metric(&metrics, "consentry_mail_relay_up"), 0, "{metrics}");
    let failed = metric(&metrics, FAILED);
    // The next probe is 4 s after the second. Per-mail retries (100-400 ms apart, as before
    // the relay was tracked) spend an attempt on each of the 20 mails within this second.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let after = metric(&app.metrics().await, FAILED);
    assert!(
        after <= failed + 1,
        "{failed} then {after} failed attempts: only probes try"
    );
    let mut spent = 0;
    for id in &ids {
        spent += app.mail_attempts(id).await;
    }
    assert_eq!(
        spent,
        i64::try_from(after).unwrap(),
        "held mails spent nothing"
    );
    assert!(
        !metrics.contains(r#"outcome="given_up""#),
        "nothing is given up: {metrics}"
    );

    let smtp = down.start();
    let mails = smtp.wait_for(20).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 20, "every held mail arrives");
    assert!(
        eventually(|| async {
            metric(
                &app.metrics().await,
                r#"consentry_mail_attempts_total{outcome="sent"}"#,
            ) == 20
        })
        .await
    );
    assert_eq!(smtp.mails().len(), 20, "each once");
    assert_eq!(metric(&app.metrics().await, "consentry_mail_relay_up"), 1);
}

#[tokio::test]
async fn a_restart_with_a_queued_mail_loses_nothing() {
    let down = DownSmtpServer::reserve();
    let app = TestApp::builder().mail_url(down.url()).spawn().await;
    app.given_list("newsletter").await;
    let answer = app.bare_signup("newsletter", "kept@example.jp").await;
    assert_eq!(answer["confirmation"], "queued");

    app.stop().await;
    let smtp = down.start();
    let _restarted = app.peer().await;

    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, ["kept@example.jp"]);
}

#[tokio::test]
async fn two_instances_on_one_database_never_send_one_mail_twice() {
    let first = spawn_app().await;
    let second = first.peer().await;
    let instances = [&first, &second];
    first.given_list("newsletter").await;

    let mut ids = Vec::new();
    for i in 0..20 {
        let email = format!("reader{i}@example.jp");
        let answer = instances[i % 2].bare_signup("newsletter", &email).await;
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }

    first.smtp.wait_for(20).await;
    // Before counting, both workers prove they finished with those jobs: every mail is
    // recorded as sent, and each instance then sends one more mail.
    for id in &ids {
        let sent = eventually(|| async {
            event_kinds(&first.consent(id).await)
                .iter()
                .any(|k| k == "confirmation_sent")
        })
        .await;
        assert!(sent, "{id} recorded as sent");
    }
    for (i, instance) in instances.iter().enumerate() {
        let email = format!("marker{i}@example.jp");
        instance.bare_signup("newsletter", &email).await;
        instance.mail_to(&email, 21 + i).await;
    }
    let mut recipients: Vec<String> = first
        .smtp
        .mails()
        .into_iter()
        .map(|m| m.to[0].clone())
        .collect();
    recipients.sort();
    let total = recipients.len();
    recipients.dedup();
    assert_eq!((total, recipients.len()), (22, 22));
}

/// A relay that takes the first mail's data and then drops the connection instead of
/// answering it (as a relay that crashed, or a network that broke, after the mail was in);
/// later connections are answered. Returns its port and the data of every DATA it took.
async fn relay_that_drops_the_first_answer() -> (u16, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let store = taken.clone();
    tokio::spawn(async move {
        for connection in 0.. {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 relay\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-relay\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
                        "DATA" => {
                            let _ = write.write_all(b"354 go on\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(line)) = lines.next_line().await {
                                if line == "." {
                                    break;
                                }
                                data.push_str(&line);
                                data.push('\n');
                            }
                            store.lock().unwrap().push(data);
                            if connection == 0 {
                                return; // the mail is in, the answer never comes
                            }
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(answer).await;
                }
            });
        }
    });
    (port, taken)
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .map(|l| l[name.len() + 1..].trim())
}

#[tokio::test]
async fn a_mail_sent_again_after_a_lost_answer_keeps_its_message_id() {
    let (port, taken) = relay_that_drops_the_first_answer().await;
    let app = TestApp::builder()
        .mail_url(format!("smtp://127.0.0.1:{port}"))
        .spawn()
        .await;
    app.given_list("newsletter").await;

    let id = app.signup("newsletter", "twice@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    assert!(eventually(|| async { taken.lock().unwrap().len() >= 2 }).await);
    assert!(
        eventually(|| async {
            event_kinds(&app.consent(&id).await)
                .iter()
                .any(|k| k == "confirmation_sent")
        })
        .await
    );
    let taken = taken.lock().unwrap().clone();
    let ids: Vec<_> = taken.iter().map(|m| header(m, "Message-ID")).collect();
    assert!(ids[0].is_some(), "{}", taken[0]);
    assert_eq!(ids[0], ids[1], "one Message-ID for both deliveries");
    let recorded = app.consent(&id).await;
    let sent = recorded["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "confirmation_sent")
        .unwrap()
        .clone();
    assert_eq!(sent["data"]["message_id"].as_str(), ids[1], "{sent}");
}

#[tokio::test]
async fn a_mail_is_tried_for_a_time_not_a_count_and_then_recorded_as_failed() {
    let down = DownSmtpServer::reserve();
    let app = TestApp::builder()
        .mail_url(down.url())
        .setting("mail_retry_for_minutes", 0)
        .spawn()
        .await;
    app.given_list("newsletter").await;

    let id = app.signup("newsletter", "never@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // With no time left, the first failed attempt is the last.
    let failed = eventually(|| async {
        event_kinds(&app.consent(&id).await)
            .iter()
            .any(|k| k == "confirmation_failed")
    })
    .await;
    assert!(failed);
    assert_eq!(app.mail_attempts(&id).await, 1);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"consentry_mail_attempts_total{outcome="given_up"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_instance_that_starts_takes_back_its_own_leases_and_no_one_else_s() {
    use consentry::db::outbox::{claim_due, enqueue, release_all_of, Lease, OutboxRow};
    use consentry::db::schema::senders;
    use consentry::db::write_transaction;
    use consentry::domain::ids::SenderId;
    use consentry::domain::job_kind::OutboxKind;
    use diesel::prelude::*;

    let app = spawn_app().await;
    let claimed = app
        .db
        .run(|conn| {
            let sender: SenderId = senders::table.select(senders::id).first(conn)?;
            let lease = |owner| Lease {
                owner,
                length: chrono::Duration::minutes(10),
                limit: 1,
            };
            // In one transaction, so the app's own mail worker cannot take a job in between.
            write_transaction(conn, |conn| {
                let at = consentry::clock::now() - chrono::Duration::hours(1);
                for _ in 0..2 {
                    let job =
                        OutboxRow::new(OutboxKind::Mail, &sender, None, None, "{}".into(), at);
                    enqueue(conn, &job)?;
                }
                let now = consentry::clock::now();
                let ours = claim_due(conn, OutboxKind::Mail, now, &lease("host:1"))?;
                let theirs = claim_due(conn, OutboxKind::Mail, now, &lease("host:2"))?;
                assert_eq!((ours.len(), theirs.len()), (1, 1));
                assert_eq!(release_all_of(conn, "host:1")?, 1, "only our lease ends");
                let again = claim_due(conn, OutboxKind::Mail, now, &lease("host:3"))?;
                Ok((ours[0].id.clone(), again))
            })
        })
        .await
        .unwrap();
    let (ours, again) = claimed;
    let again: Vec<String> = again.into_iter().map(|j| j.id).collect();
    assert_eq!(
        again,
        [ours],
        "our job is due again at once; theirs keeps its lease"
    );
}

/// The issue's outage, with the shipped defaults (retry backoff 5 s to 1 h, retries for 5
/// days, no limit on the count): signups go on while the relay refuses every connection
/// for 15 minutes; afterwards every mail arrives, once, and nothing was given up. It runs
/// for about 16 minutes, so `cargo test` leaves it out and `.ci/run` runs it on both
/// backends beside the suite; alone:
/// `cargo test --test api -- --ignored a_relay_down_for_fifteen_minutes`.
#[tokio::test]
#[ignore = "runs for 16 minutes"]
async fn a_relay_down_for_fifteen_minutes_with_the_default_settings_loses_no_mail() {
    const OUTAGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);
    let down = DownSmtpServer::reserve();
    let app = TestApp::builder()
        .mail_url(down.url())
        .setting("mail_retry_base_ms", 5_000)
        .setting("mail_retry_max_ms", 3_600_000)
        .spawn()
        .await;
    app.given_list("newsletter").await;
    let started = std::time::Instant::now();
    let mut signed = 0;
    while started.elapsed() < OUTAGE {
        let answer = app
            .bare_signup("newsletter", &format!("patient{signed}@example.jp"))
            .await;
        assert_eq!(answer["confirmation"], "queued");
        signed += 1;
        tokio::time::sleep(std::time::Duration::from_secs(15)).await;
    }
    let metrics = app.metrics().await;
    assert_eq!(metric(&metrics, "consentry_mail_relay_up"), 0, "{metrics}");
    assert!(!metrics.contains(r#"outcome="given_up""#), "{metrics}");

    let smtp = down.start();
    let sent = r#"consentry_mail_attempts_total{outcome="sent"}"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while metric(&app.metrics().await, sent) < signed && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    let mails = smtp.mails();
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len() as u64, signed, "every mail arrives");
    assert_eq!(mails.len() as u64, signed, "each once");
    let metrics = app.metrics().await;
    assert_eq!(metric(&metrics, sent), signed, "{metrics}");
    assert!(!metrics.contains(r#"outcome="given_up""#), "{metrics}");
}

/// Attempts that end together are recorded together: fewer transactions than mails, each
/// mail's `confirmation_sent` on its own sender's chain, and both chains whole.
#[tokio::test]
async fn mails_of_two_senders_sent_at_once_are_recorded_in_batches_on_whole_chains() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let other = crate::support::seed(&app.db, "Other").await;
    let created = app
        .create_list(&other.sender_key, &crate::support::list_body("news"))
        .await;
    assert_eq!(created.status(), 201);

    // Eight domains, so that up to eight mails are in flight at once and their attempts end
    // while earlier outcomes are being written.
    let signups = (0..24).map(|i| {
        let (key, list) = if i % 2 == 0 {
            (app.sender_key.clone(), "newsletter")
        } else {
            (other.sender_key.clone(), "news")
        };
        let app = &app;
        async move {
            let email = format!("r{i}@example{}.jp", i % 8);
            let body = serde_json::json!({"list": list, "email": email});
            let answer = app
                .call(
                    reqwest::Method::POST,
                    "/v1/consents",
                    Some(&key),
                    Some(&body),
                )
                .await
                .expect(202);
            (key, answer["id"].as_str().unwrap().to_owned())
        }
    });
    let consents = futures_util::future::join_all(signups).await;
    app.smtp.wait_for(24).await;

    const SENT: &str = "consentry_mail_attempts_total{outcome=\"sent\"}";
    assert!(eventually(|| async { metric(&app.metrics().await, SENT) == 24 }).await);
    let batches = metric(&app.metrics().await, "consentry_mail_outcome_batches_total");
    assert!(
        (1..24).contains(&batches),
        "{batches} transactions for 24 mails"
    );
    for (key, id) in &consents {
        let consent = app.get_json(&format!("/v1/consents/{id}"), key).await;
        let sent = event_kinds(&consent)
            .iter()
            .filter(|k| *k == "confirmation_sent")
            .count();
        assert_eq!(sent, 1, "{consent}");
    }
    for auditor in [&app.auditor_key, &other.auditor_key] {
        let report = app.get_json("/v1/audit/verify", auditor).await;
        assert_eq!(report["ok"], true, "{report}");
    }
}
