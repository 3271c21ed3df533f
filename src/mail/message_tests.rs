//! Snapshots of the confirmation mail in both locales (subject, decoded text and HTML parts,
//! with and without "on behalf of"), plus the facts the ledger relies on: the Message-ID it
//! records is the one sent, and the SHA-256 is of the exact bytes sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mail_parser::MessageParser;

use super::*;

const CONFIRM_URL: &str = "https://consent.example.jp/c/TOKEN";
const REFUSE_URL: &str = "https://consent.example.jp/r/TOKEN";
const RECIPIENT: &str = "hanako@example.jp";

/// A fixed view per locale; `on_behalf_of` is the only part that varies.
fn view(locale: &str, on_behalf_of: &'static str) -> ConfirmationView<'static> {
    let (legal_name, postal_address, list_name) = match locale {
        "ja" => (
            "株式会社サンプル",
            "〒100-0001\n東京都千代田区千代田1-2-3\nサンプルビル5階",
            "週刊お得情報",
        ),
        _ => (
            "Example K.K.",
            "1-2-3 Chiyoda\nChiyoda-ku, Tokyo 100-0001\nJapan",
            "Weekly offers",
        ),
    };
    ConfirmationView {
        sender_legal_name: legal_name,
        sender_postal_address: postal_address,
        sender_contact: "privacy@example.jp",
        on_behalf_of,
        list_name,
        confirm_url: CONFIRM_URL,
        refuse_url: REFUSE_URL,
        expires_at: "2026-12-04 10:00 UTC",
        recipient: RECIPIENT,
    }
}

fn render(locale: &str, view: &ConfirmationView<'_>) -> Rendered {
    let templates = Templates::load(None).unwrap();
    let from: Mailbox = "Consentry <no-reply@consent.example.jp>".parse().unwrap();
    confirmation(
        &templates,
        locale,
        &from,
        RECIPIENT.parse().unwrap(),
        view,
        "0193a1b2-0000-7000-8000-0000000000f1",
        None,
    )
    .unwrap()
}

/// The decoded parts of a rendered mail: (subject, text/plain, text/html), line ends as LF.
fn parts(rendered: &Rendered) -> (String, String, String) {
    let bytes = rendered.message.formatted();
    let parsed = MessageParser::default()
        .parse(&bytes)
        .expect("mail_parser parses the mail");
    let lf = |s: &str| s.replace("\r\n", "\n");
    (
        parsed.subject().expect("a subject").to_owned(),
        lf(&parsed.body_text(0).expect("a text/plain part")),
        lf(&parsed.body_html(0).expect("a text/html part")),
    )
}

/// Undoes the character references minijinja's HTML escaping writes.
fn unescape_html(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Checks what every confirmation mail must say and carry, and returns the snapshot text.
fn checked(locale: &str, on_behalf_of: &'static str) -> String {
    let view = view(locale, on_behalf_of);
    let rendered = render(locale, &view);

    // The ledger records the Message-ID that is sent and the hash of the bytes that are sent.
    assert_eq!(
        rendered.message.headers().get_raw("Message-ID"),
        Some(rendered.message_id.as_str())
    );
    let formatted = rendered.message.formatted();
    let parsed = MessageParser::default().parse(&formatted).unwrap();
    assert!(rendered.message_id.ends_with("@consent.example.jp>"));
    assert_eq!(
        parsed.message_id().map(|id| format!("<{id}>")),
        Some(rendered.message_id.clone())
    );
    assert_eq!(rendered.sha256, hex::encode(Sha256::digest(&formatted)));
    assert_eq!(
        rendered.message.headers().get_raw("Auto-Submitted"),
        Some("auto-generated")
    );

    let (subject, text, html) = parts(&rendered);
    // minijinja escapes `/` too (`https:&#x2f;&#x2f;…`): browsers decode it, so check the
    // decoded markup; the snapshot keeps the markup as sent.
    let html_decoded = unescape_html(&html);
    assert!(subject.contains(view.list_name), "{subject}");
    // The sender's identity, the list and both links; the view holds no free text from the
    // submitter, so nothing else can appear.
    for (what, needle) in [
        ("legal name", view.sender_legal_name),
        ("contact", view.sender_contact),
        ("list name", view.list_name),
        ("recipient", view.recipient),
        ("confirm link", CONFIRM_URL),
        ("refuse link", REFUSE_URL),
        ("expiry", view.expires_at),
    ] {
        assert!(text.contains(needle), "text lacks the {what}:\n{text}");
        assert!(
            html_decoded.contains(needle),
            "HTML lacks the {what}:\n{html}"
        );
    }
    for line in view.sender_postal_address.lines() {
        assert!(text.contains(line), "text lacks address line {line}");
        assert!(
            html_decoded.contains(line),
            "HTML lacks address line {line}"
        );
    }
    assert!(html_decoded.contains(&format!("href=\"{CONFIRM_URL}\"")));
    assert!(html_decoded.contains(&format!("href=\"{REFUSE_URL}\"")));
    if on_behalf_of.is_empty() {
        let label = if locale == "ja" {
            "送信委託者"
        } else {
            "on behalf of:"
        };
        assert!(!text.contains(label), "{text}");
        assert!(!html.contains(label), "{html}");
    } else {
        assert!(text.contains(on_behalf_of), "{text}");
        assert!(html_decoded.contains(on_behalf_of), "{html}");
    }

    format!("Subject: {subject}\n\n===== text/plain =====\n{text}\n===== text/html =====\n{html}")
}

#[test]
fn japanese_confirmation_mail() {
    insta::assert_snapshot!("confirmation_ja", checked("ja", ""));
}

#[test]
fn japanese_confirmation_mail_sent_on_behalf_of_a_client() {
    insta::assert_snapshot!(
        "confirmation_ja_on_behalf_of",
        checked("ja", "サンプル商店株式会社")
    );
}

#[test]
fn english_confirmation_mail() {
    insta::assert_snapshot!("confirmation_en", checked("en", ""));
}

#[test]
fn english_confirmation_mail_sent_on_behalf_of_a_client() {
    insta::assert_snapshot!(
        "confirmation_en_on_behalf_of",
        checked("en", "Sample Shop Ltd.")
    );
}
