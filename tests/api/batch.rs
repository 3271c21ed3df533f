//! `POST /v1/check`: streamed answers in input order, invalid lines inline, a ledger receipt.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{eventually, spawn_app, Answer, TestApp};

async fn confirmed(app: &TestApp, email: &str, n: usize) {
    app.signup("newsletter", email).await;
    let (confirm, _) = TestApp::links_of(&app.mail_to(email, n).await);
    assert_eq!(app.press(&confirm).await.status(), 200);
}

#[tokio::test]
async fn a_batch_answers_every_line_in_order_and_records_a_receipt() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    confirmed(&app, "ok@example.jp", 1).await;
    app.signup("newsletter", "waiting@example.jp").await;
    // Signed up to another list by a prankster; the owner says "this wasn't me".
    app.given_list("other").await;
    app.signup("other", "pranked@example.jp").await;
    let (_, refuse) = TestApp::links_of(&app.mail_to("pranked@example.jp", 3).await);
    assert_eq!(app.press(&refuse).await.status(), 200);
    let input = "{\"email\":\"ok@example.jp\"}\n{\"email\":\"waiting@example.jp\"}\n{\"email\":\"not-an-address\"}\n\n{\"email\":\"stranger@example.jp\"}\nnot json\n{\"email\":\"OK@example.jp\"}\n{\"email\":\"pranked@example.jp\"}";

    let response = app
        .post("/v1/check?list=newsletter", &app.sender_key)
        .header("content-type", "application/x-ndjson")
        .body(input)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let receipt = response.headers()["consentry-check-receipt"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.bytes().await.unwrap();
    let lines: Vec<Value> = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let reasons: Vec<&str> = lines
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "confirmed",
            "pending",
            "invalid_email",
            "not_found",
            "invalid_email",
            "confirmed",
            "suppressed"
        ]
    );
    assert_eq!(lines[0]["allowed"], true);
    assert!(lines[0]["unsubscribe_url"]
        .as_str()
        .unwrap()
        .starts_with("https://consent.example.jp/u/"));
    assert!(lines[1].get("unsubscribe_url").is_none());

    // The receipt is written when the stream ends.
    let expected = hex::encode(Sha256::digest(&body));
    assert!(eventually(|| async { app.event(&receipt).await.is_some() }).await);
    let (kind, data) = app.event(&receipt).await.unwrap();
    assert_eq!(kind, "checked");
    assert_eq!(data["count"], 7);
    assert_eq!(data["allowed"], 2);
    assert_eq!(data["results_sha256"], expected);
}

#[tokio::test]
async fn plain_text_lines_work_and_other_media_types_are_415() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;

    let text = app
        .post("/v1/check?list=newsletter", &app.sender_key)
        .header("content-type", "text/plain")
        .body("a@example.jp\r\nb@example.jp\n")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.lines().all(|l| l.contains("\"not_found\"")));

    let xml = app
        .post("/v1/check?list=newsletter", &app.sender_key)
        .header("content-type", "application/xml")
        .body("<a/>")
        .send()
        .await
        .unwrap();
    Answer::read(xml)
        .await
        .expect_problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn a_sender_over_its_quota_gets_429_with_retry_after() {
    let app = TestApp::builder().sender_rate(1, 2).spawn().await;
    app.given_list("newsletter").await;
    app.signup("newsletter", "one@example.jp").await;
    app.signup("newsletter", "two@example.jp").await;

    let response = app
        .post("/v1/consents", &app.sender_key)
        .json(&serde_json::json!({"list": "newsletter", "email": "three@example.jp"}))
        .send()
        .await
        .unwrap();

    assert!(
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    Answer::read(response)
        .await
        .expect_problem(429, "rate_limited");
}

#[tokio::test]
async fn an_empty_batch_checks_nothing_and_records_nothing() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let batch = |body: &'static str| {
        app.post("/v1/check?list=newsletter", &app.sender_key)
            .header("content-type", "text/plain")
            .body(body)
            .send()
    };

    let empty = batch("\n\n").await.unwrap();
    let empty_receipt = empty.headers()["consentry-check-receipt"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(empty.status(), 200);
    assert_eq!(empty.text().await.unwrap(), "");
    let full = batch("a@example.jp\n").await.unwrap();
    let full_receipt = full.headers()["consentry-check-receipt"]
        .to_str()
        .unwrap()
        .to_owned();
    full.text().await.unwrap();

    // Receipts are written in order of the batches' ends; once the later one is there, the
    // empty one would have been too.
    assert!(eventually(|| async { app.event(&full_receipt).await.is_some() }).await);
    assert!(app.event(&empty_receipt).await.is_none());
}

#[tokio::test]
async fn a_sender_s_open_batches_are_limited_and_leave_other_senders_theirs() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::builder()
        .setting("batch_checks_per_sender", 2)
        .spawn()
        .await;
    app.given_list("newsletter").await;
    let other = app.other_sender_with_list("news").await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(app.address()).await.unwrap();
        let head = format!(
            "POST /v1/check?list=newsletter HTTP/1.1\r\nHost: consent.example.jp\r\n\
             Authorization: Bearer {}\r\nContent-Type: text/plain\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            app.sender_key
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // The answer's head is out once the batch has its turn.
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        open.push(stream);
    }
    let batch = |key: String, list: &'static str| {
        app.post(&format!("/v1/check?list={list}"), &key)
            .header("content-type", "text/plain")
            .body("a@example.jp\n")
            .send()
    };

    assert!(
        eventually(|| async {
            batch(app.sender_key.clone(), "newsletter")
                .await
                .unwrap()
                .status()
                == 429
        })
        .await,
        "a third batch of the same sender waits its turn"
    );
    let theirs = batch(other.clone(), "news").await.unwrap();
    assert_eq!(theirs.status(), 200);
    drop(open);
    assert!(
        eventually(|| async {
            batch(app.sender_key.clone(), "newsletter")
                .await
                .unwrap()
                .status()
                == 200
        })
        .await
    );
}

#[tokio::test]
async fn a_client_that_sends_its_whole_list_before_reading_gets_every_answer() {
    whole_list_then_read(1_000_000, None).await;
}

#[tokio::test]
async fn answers_past_the_memory_hold_wait_in_a_spool_file_for_a_client_that_reads_last() {
    // 64 KiB in memory, less than one chunk of answers: nearly all of them go through the
    // spool, and a chunk larger than the memory bound must not wait for the client.
    whole_list_then_read(200_000, Some(65_536)).await;
}

/// Sends `lines` addresses as Python's requests or Ruby's Net::HTTP do: the whole body first,
/// then reads the answer, with a small receive buffer.
async fn whole_list_then_read(lines: usize, memory_hold: Option<usize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut builder = TestApp::builder().setting("stream_send_timeout_ms", 3000);
    if let Some(bytes) = memory_hold {
        builder = builder.setting("batch_hold_bytes", bytes);
    }
    let app = builder.spawn().await;
    app.given_list("newsletter").await;
    let body: String = (0..lines)
        .map(|i| format!("reader{i}@example.jp\n"))
        .collect();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.address()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /v1/check?list=newsletter HTTP/1.1\r\nHost: consent.example.jp\r\n\
         Authorization: Bearer {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        app.sender_key,
        body.len()
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    writer.write_all(body.as_bytes()).await.unwrap();

    let mut answer = Vec::new();
    reader.read_to_end(&mut answer).await.unwrap();

    let body = String::from_utf8(dechunk(&answer)).expect("UTF-8 answers");
    let mut answered = 0;
    for line in body.lines() {
        let email = format!("\"email\":\"reader{answered}@example.jp\"");
        assert!(line.contains(&email), "answer {answered} in order: {line}");
        assert!(line.contains("\"reason\":\"not_found\""), "{line}");
        answered += 1;
    }
    assert_eq!(answered, lines, "every line is answered");
}

/// The body of a raw HTTP/1.1 response sent with `Transfer-Encoding: chunked`.
fn dechunk(response: &[u8]) -> Vec<u8> {
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let mut rest = &response[head_end + 4..];
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a size line");
        let size = std::str::from_utf8(&rest[..line_end]).expect("a hex size");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
