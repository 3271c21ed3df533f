//! Clients that hold connections: a body trickling in a byte at a time is cut off with a
//! `408`, and one address cannot hold more connections than its limit.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use futures_util::FutureExt;

use crate::support::{eventually, TestApp};

/// Everything the server sends until it closes the connection (or 20 s pass).
async fn read_until_closed(stream: &mut tokio::net::tcp::OwnedReadHalf) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_with_a_problem() {
    let app = TestApp::builder()
        .setting("body_timeout_ms", 600)
        .spawn()
        .await;
    let stream = TcpStream::connect(app.address()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /v1/consents HTTP/1.1\r\nHost: consent.example.jp\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{",
        app.sender_key
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });

    let answer = read_until_closed(&mut reader).await;
    trickle.abort();

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
}

#[tokio::test]
async fn one_address_cannot_hold_more_connections_than_its_limit() {
    let app = TestApp::builder()
        .setting("max_connections_per_ip", 3)
        .spawn()
        .await;
    let mut statuses = Vec::new();
    let mut open = Vec::new();
    for _ in 0..5 {
        let stream = TcpStream::connect(app.address()).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        writer
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: consent.example.jp\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        statuses.push(answer.lines().next().unwrap_or_default().to_owned());
        open.push((reader, writer, answer));
    }

    let refused: Vec<_> = open
        .iter_mut()
        .filter(|(_, _, answer)| answer.starts_with("HTTP/1.1 429"))
        .collect();
    assert!(!refused.is_empty(), "{statuses:?}");
    for (reader, _, answer) in refused {
        assert!(answer.contains(r#""code":"rate_limited""#), "{answer}");
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut rest)).await;
        assert!(
            matches!(closed, Ok(Ok(_))),
            "a refused connection is closed"
        );
    }

    // Closing them frees the address's places.
    drop(open);
    let client = reqwest::Client::new();
    let url = format!("{}/healthz", app.url);
    assert!(
        eventually(|| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .await
    );
}

/// Asks for the whole export on a socket with a tiny receive buffer and never reads it.
async fn stalled_export(app: &TestApp, auditor_key: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(app.address()).await.unwrap();
    let head = format!(
        "GET /v1/audit/events HTTP/1.1\r\nHost: consent.example.jp\r\n\
         Authorization: Bearer {auditor_key}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The answer's head is out once the export has its turn; the rest stays unread.
    let mut buf = vec![0u8; 256];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    stream
}

#[tokio::test]
async fn exports_nobody_reads_hold_only_their_sender_s_turns_and_only_until_the_send_timeout() {
    let app = TestApp::builder()
        .setting("stream_send_timeout_ms", 1500)
        .spawn()
        .await;
    // A chain whose export (about 12 MB) does not fit in the socket buffers of a reader that
    // never reads.
    app.pad_chain(8000).await;
    let other = crate::support::cli::seed(&app.db, "Other").await;
    let _stalled = [
        stalled_export(&app, &app.auditor_key).await,
        stalled_export(&app, &app.auditor_key).await,
    ];
    let status_of = |key: String, path: &'static str| {
        let app = &app;
        async move { app.get(path, &key).send().await.unwrap().status().as_u16() }
    };

    assert!(
        eventually(|| status_of(app.auditor_key.clone(), "/v1/audit/verify").map(|s| s == 429))
            .await,
        "the stalled exports hold this sender's two turns"
    );
    assert_eq!(
        status_of(other.auditor_key.clone(), "/v1/audit/verify").await,
        200
    );
    assert_eq!(
        status_of(other.auditor_key.clone(), "/v1/audit/events").await,
        200
    );
    // The send timeout gives the turns back though the sockets stay open.
    assert!(
        eventually(|| status_of(app.auditor_key.clone(), "/v1/audit/verify").map(|s| s == 200))
            .await
    );
}
