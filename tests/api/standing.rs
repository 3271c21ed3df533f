//! Sender standing: probation with a rising daily cap, `watch` and `restricted` from refusal
//! and complaint rates and traffic patterns, the operator's review. The simulation drives two
//! senders through weeks of traffic on a fake clock (the flows take their time as an
//! argument), on the real database.

use chrono::{Duration, NaiveDateTime};
use consentry::db::ledger::{record_event, NewEvent};
use consentry::db::{consents, lists, write_transaction, DbConn};
use consentry::domain::complaint::{ComplaintSource, FeedbackType};
use consentry::domain::email::EmailAddress;
use consentry::domain::event_kind::EventKind;
use consentry::domain::ids::{ConsentId, SenderId};
use consentry::domain::report::read as read_report;
use consentry::domain::standing::{Rules, Standing};
use consentry::domain::token::{sign, Action, LinkClaims};
use consentry::flows::links::{self, Observed};
use consentry::flows::signup::{signup, ClaimedEvidence, Signup};
use consentry::flows::{complaints, standing, Confirmation, ThrottleReason};
use serde_json::{json, Value};

use crate::support::{consentry_cli, seed, TestApp};

async fn sender_id_of(app: &TestApp, key: &str) -> String {
    app.get_json("/v1/reputation", key).await["sender_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_new_sender_starts_on_probation_and_its_reputation_counts_what_happens() {
    let app = TestApp::builder().spawn().await;
    app.given_list("offers").await;
    app.confirmed_signup("offers", "taro@example.jp", 1).await;
    app.signup("offers", "hanako@example.jp").await;

    let reputation = app.get_json("/v1/reputation", &app.auditor_key).await;

    assert_eq!(reputation["standing"], "probation");
    assert_eq!(reputation["daily_confirmation_cap"], 200);
    assert_eq!(reputation["window_days"], 30);
    let counts = &reputation["counts"];
    assert_eq!(
        (counts["requested"].clone(), counts["confirmed"].clone()),
        (json!(2), json!(1))
    );
    assert!(counts["mailed"].as_i64().unwrap() >= 1);
    assert_eq!(reputation["signals"], json!([]));
    for key in ["confirmation", "refusal", "complaint", "unsubscribe"] {
        assert!(reputation["rates"][key].is_number(), "{key}");
    }
}

#[tokio::test]
async fn a_sender_on_probation_mails_no_more_than_its_daily_cap() {
    let app = TestApp::builder()
        .setting("standing_probation_caps", "2,5")
        .spawn()
        .await;
    app.given_list("offers").await;
    let emails: Vec<String> = (0..3).map(|i| format!("user{i}@example.jp")).collect();
    // At once: concurrent signups must count each other's mails.
    let answers: Vec<Value> =
        futures_util::future::join_all(emails.iter().map(|e| app.signup("offers", e))).await;
    let mut throttled: Vec<&Value> = answers
        .iter()
        .filter(|a| a["confirmation"] == "throttled")
        .collect();
    assert_eq!(throttled.len(), 1, "{answers:?}");
    assert_eq!(throttled.pop().unwrap()["throttle_reason"], "probation_cap");
    assert_eq!(
        app.get_json("/v1/reputation", &app.sender_key).await["queued_last_24h"],
        2
    );
}

#[tokio::test]
async fn a_restricted_sender_s_signups_are_recorded_throttled_and_never_mailed() {
    let app = TestApp::builder().spawn().await;
    app.given_list("offers").await;
    let sender_id = sender_id_of(&app, &app.sender_key).await;

    let set = consentry_cli(&app.database_url)
        .args([
            "sender",
            "standing",
            &sender_id,
            "--set",
            "restricted",
            "--reason",
            "prankster traffic on the form",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let shown: Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(shown["standing"], "restricted");
    assert_eq!(shown["daily_confirmation_cap"], 0);

    let answer = app.signup("offers", "taro@example.jp").await;
    assert_eq!(answer["status"], "pending");
    assert_eq!(answer["confirmation"], "throttled");
    assert_eq!(answer["throttle_reason"], "standing");
    let consent = app.consent(answer["id"].as_str().unwrap()).await;
    assert_eq!(consent["events"][0]["data"]["throttle_reason"], "standing");
    // The change is on the sender's chain, with who made it and why.
    let (_, _, export) = app.export("").await;
    let changed: Vec<Value> = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "standing_changed")
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["data"]["to"], "restricted");
    assert_eq!(changed[0]["data"]["by"], "operator");
    assert_eq!(
        changed[0]["data"]["reason"],
        "prankster traffic on the form"
    );
    // Nothing was mailed: the only mail the worker could send would have arrived by now.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.smtp.mails().is_empty());
}

#[tokio::test]
async fn standing_needs_a_reason_and_a_known_sender() {
    let app = TestApp::builder().spawn().await;
    let sender_id = sender_id_of(&app, &app.sender_key).await;
    let no_reason = consentry_cli(&app.database_url)
        .args(["sender", "standing", &sender_id, "--set", "good"])
        .output()
        .unwrap();
    assert!(!no_reason.status.success());
    let unknown = consentry_cli(&app.database_url)
        .args(["sender", "standing", "00000000-0000-7000-8000-000000000000"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no sender"));
    let shown = consentry_cli(&app.database_url)
        .args(["sender", "reputation", &sender_id])
        .output()
        .unwrap();
    assert!(shown.status.success());
    assert!(String::from_utf8_lossy(&shown.stdout).contains("standing probation"));
}

/// One sender's side of the simulation.
struct Simulated {
    sender_id: SenderId,
    list: lists::ListRow,
    auditor_key: String,
}

/// What the simulated people do with one confirmation mail.
#[derive(Clone, Copy)]
enum Answer {
    Confirm,
    Refuse,
    ComplainAboutTheMail,
    Ignore,
}

/// One signup at `at` on the fake clock: the relay takes the mail a minute later (recorded
/// as the mail worker records it), the person answers ten minutes later.
fn simulate_signup(
    conn: &mut DbConn,
    app: &TestApp,
    who: &Simulated,
    email: &str,
    ip: &str,
    answer: Answer,
    at: NaiveDateTime,
) -> (Confirmation, Option<ThrottleReason>) {
    let secrets = &app.state.secrets;
    let email = EmailAddress::parse(email).unwrap();
    let request = Signup {
        sender_id: &who.sender_id,
        list: &who.list,
        email: &email,
        address_key: secrets.hasher.address_key(&email),
        abuse_key: secrets.hasher.abuse_key(&email),
        client_ip_key: Some(secrets.hasher.ip_key(ip)),
        network_key: secrets.hasher.network_key(ip),
        locale: "ja",
        evidence: ClaimedEvidence {
            ip: Some(ip.to_owned()),
            user_agent: Some("Mozilla/5.0".into()),
            source_url: Some("https://shop.example.jp/signup".into()),
            collected_at: None,
            collection_method: "web_form".into(),
            consent_text_sha256: who.list.consent_text_sha256.clone(),
        },
    };
    let rules = app.state.settings.flow.clone();
    let signed = write_transaction(conn, |conn| signup(conn, &request, &rules, at)).unwrap();
    let outcome = (signed.answer.confirmation, signed.answer.throttle_reason);
    if !signed.mail_queued {
        return outcome;
    }
    let id = signed.answer.consent_id.clone();
    let sent_at = at + Duration::minutes(1);
    write_transaction(conn, |conn| {
        let event = NewEvent {
            consent_id: Some(&id),
            ..NewEvent::new(EventKind::ConfirmationSent, json!({"attempt": 1}))
        };
        record_event(conn, &who.sender_id, event, sent_at).map(|_| ())
    })
    .unwrap();
    let answered_at = at + Duration::minutes(10);
    write_transaction(conn, |conn| {
        match answer {
            Answer::Confirm => {
                let nonce = consents::find_consent_by_id(conn, &id)?.unwrap().nonce;
                links::confirm(conn, &id, &nonce, &Observed::default(), answered_at)?;
            }
            Answer::Refuse => {
                links::refuse(conn, &id, &Observed::default(), answered_at)?;
            }
            Answer::ComplainAboutTheMail => complain_about(conn, app, who, &id, answered_at)?,
            Answer::Ignore => {}
        }
        Ok(())
    })
    .unwrap();
    outcome
}

/// A feedback loop's report about the confirmation mail: its refuse link is in the body.
fn complain_about(
    conn: &mut DbConn,
    app: &TestApp,
    who: &Simulated,
    id: &ConsentId,
    at: NaiveDateTime,
) -> Result<(), consentry::db::StoreError> {
    let keys = &app.state.secrets.token_keys;
    let token = sign(
        keys,
        &LinkClaims {
            action: Action::Refuse,
            consent_id: id.to_uuid(),
            nonce: String::new(),
            expires_at: None,
        },
    );
    let mail = format!(
        "Subject: confirm\r\n\r\nNot me: {}/r/{token}\r\n",
        crate::support::BASE_URL
    );
    let report = read_report(mail.as_bytes(), crate::support::BASE_URL);
    let intake = complaints::Intake {
        sender_id: Some(&who.sender_id),
        report: &report,
        feedback_type: FeedbackType::Abuse,
        source: ComplaintSource::FeedbackLoop,
        received_at: at,
        note: None,
        observed: Observed::default(),
    };
    complaints::take(conn, &intake, keys, at).map(|_| ())
}

fn standing_of(conn: &mut DbConn, who: &Simulated) -> Standing {
    consentry::db::standing::find_standing(conn, &who.sender_id, false)
        .unwrap()
        .unwrap()
        .standing
}

async fn simulated(app: &TestApp, key: &str, auditor_key: String) -> Simulated {
    let slug = "offers";
    assert_eq!(
        app.create_list(key, &crate::support::list_body(slug))
            .await
            .status(),
        201
    );
    let sender_id = SenderId::parse(&sender_id_of(app, key).await).unwrap();
    let list = lists::find_list(&mut app.db.get().unwrap(), &sender_id, slug)
        .unwrap()
        .unwrap();
    Simulated {
        sender_id,
        list,
        auditor_key,
    }
}

#[tokio::test]
async fn weeks_of_traffic_raise_an_honest_sender_and_stop_a_sender_whose_form_is_abused() {
    // The app's own sweep runs on the real clock: keep it out of the fake weeks.
    let app = TestApp::builder()
        .setting("standing_sweep_seconds", "86400")
        .spawn()
        .await;
    let honest = simulated(&app, &app.sender_key, app.auditor_key.clone()).await;
    let abused_keys = seed(&app.db, "Abused").await;
    let abused = simulated(
        &app,
        &abused_keys.sender_key,
        abused_keys.auditor_key.clone(),
    )
    .await;
    let rules: Rules = app.state.settings.flow.standing.clone();
    let start = consentry::clock::now() + Duration::days(1);
    let mut conn = app.db.get().unwrap();
    let (mut honest_path, mut abused_path) = (vec![Standing::Probation], vec![Standing::Probation]);
    let mut throttled_by_standing = 0;
    for day in 0..14 {
        for hour in 0..24 {
            let at = start + Duration::days(day) + Duration::hours(hour);
            for i in 0..4 {
                let n = hour * 4 + i;
                // 50 % confirm, nobody refuses; signups from many networks.
                let answer = if n % 2 == 0 {
                    Answer::Confirm
                } else {
                    Answer::Ignore
                };
                let ip = format!("198.51.{}.{}", n % 97, 1 + n % 200);
                simulate_signup(
                    &mut conn,
                    &app,
                    &honest,
                    &format!("h{day}-{n}@example.jp"),
                    &ip,
                    answer,
                    at,
                );
                // The prankster types other people's addresses from one network: few
                // confirm, many refuse, some complain about the confirmation mail.
                let answer = match n % 20 {
                    0 | 1 => Answer::Confirm,
                    2 => Answer::Refuse,
                    3 if day >= 2 => Answer::Refuse,
                    4 if day >= 2 => Answer::ComplainAboutTheMail,
                    _ => Answer::Ignore,
                };
                let ip = format!("203.0.113.{}", 1 + n % 250);
                let (confirmation, reason) = simulate_signup(
                    &mut conn,
                    &app,
                    &abused,
                    &format!("v{day}-{n}@example.jp"),
                    &ip,
                    answer,
                    at,
                );
                if reason == Some(ThrottleReason::Standing) {
                    assert_eq!(confirmation, Confirmation::Throttled);
                    throttled_by_standing += 1;
                }
            }
            if hour % 6 == 5 {
                standing::assess_all(&mut conn, &rules, at + Duration::minutes(59)).unwrap();
                for (who, path) in [(&honest, &mut honest_path), (&abused, &mut abused_path)] {
                    let now = standing_of(&mut conn, who);
                    if path.last() != Some(&now) {
                        path.push(now);
                    }
                }
            }
        }
    }

    assert_eq!(
        honest_path,
        [Standing::Probation, Standing::Good],
        "{honest_path:?}"
    );
    let steps = consentry::db::standing::find_standing(&mut conn, &honest.sender_id, false)
        .unwrap()
        .unwrap();
    assert_eq!(steps.probation_step, None);
    assert_eq!(
        abused_path,
        [Standing::Probation, Standing::Watch, Standing::Restricted],
        "{abused_path:?}"
    );
    assert!(throttled_by_standing > 100, "{throttled_by_standing}");

    // The operator reviews the abused sender and lets it mail again, with a reason.
    let later = start + Duration::days(14);
    write_transaction(&mut conn, |conn| {
        standing::set_by_operator(
            conn,
            &abused.sender_id,
            Standing::Good,
            "form now behind a CAPTCHA",
            &rules,
            later,
        )
    })
    .unwrap();
    drop(conn);
    let (status, _, export) = app.export_as(&abused.auditor_key, "").await;
    assert_eq!(status, 200);
    let changes: Vec<Value> = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "standing_changed")
        .map(|e| e["data"].clone())
        .collect();
    let last = changes.last().unwrap();
    assert_eq!(
        (last["to"].clone(), last["by"].clone()),
        (json!("good"), json!("operator"))
    );
    assert_eq!(last["reason"], "form now behind a CAPTCHA");
    assert!(changes
        .iter()
        .any(|c| c["to"] == "restricted" && c["by"] == "auto"));
    let verified: Value = app.get_json("/v1/audit/verify", &abused.auditor_key).await;
    assert_eq!(verified["ok"], true);
    let verified: Value = app.get_json("/v1/audit/verify", &honest.auditor_key).await;
    assert_eq!(verified["ok"], true);
}
