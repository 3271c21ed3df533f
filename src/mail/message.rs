//! Builds the confirmation mail: fixed templates (ja/en), text + HTML alternatives, the
//! sender's legal identity, confirm and "this wasn't me" links, and nothing the submitter
//! wrote. Optionally DKIM-signed.

use lettre::message::header::{self, HeaderName, HeaderValue};
use lettre::message::{dkim, Body, Mailbox, MultiPart};
use lettre::Message;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::templates::Templates;

/// Everything the confirmation templates may show.
#[derive(Serialize, Clone, Copy)]
pub struct ConfirmationView<'a> {
    pub sender_legal_name: &'a str,
    pub sender_postal_address: &'a str,
    pub sender_contact: &'a str,
    pub on_behalf_of: &'a str,
    pub list_name: &'a str,
    pub confirm_url: &'a str,
    pub refuse_url: &'a str,
    pub expires_at: &'a str,
    pub recipient: &'a str,
}

/// The most of a list's name the Subject shows: the Subject is what a phishing mail would
/// lean on, so sender-chosen text in it stays short (the body shows the whole name).
const SUBJECT_NAME_CHARS: usize = 60;

/// `text` cut to `max` characters, with an ellipsis when cut.
fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// A mail ready to send, with what the ledger records about it.
pub struct Rendered {
    pub message: Message,
    pub message_id: String,
    pub sha256: String,
}

/// Renders and assembles the confirmation mail in `locale`. `mail_key` names this mail (its
/// outbox job): every attempt to send it carries the same Message-ID, so a mail delivered
/// twice (a crash after the relay took it, before the outcome was stored) is one mail to
/// every client that de-duplicates on Message-ID.
pub fn confirmation(
    templates: &Templates,
    locale: &str,
    from: &Mailbox,
    to: Mailbox,
    view: &ConfirmationView<'_>,
    mail_key: &str,
    dkim: Option<&dkim::DkimConfig>,
) -> anyhow::Result<Rendered> {
    let name = |part: &str| format!("mail/confirm/{part}.{locale}");
    let list_name = bounded(view.list_name, SUBJECT_NAME_CHARS);
    let subject_view = ConfirmationView {
        list_name: &list_name,
        ..*view
    };
    let subject = templates.render(&name("subject"), subject_view)?;
    let text = templates.render(&name("body.txt"), view)?;
    let html = templates.render(&name("body.html"), view)?;
    let domain = from.email.domain().to_owned();
    let message_id = format!("<{}@{}>", message_id_local_part(mail_key), domain);
    let (content_type, body) = top_level_mime(&MultiPart::alternative_plain_html(text, html))?;
    let mut message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject.trim())
        .message_id(Some(message_id.clone()))
        .header(header::MIME_VERSION_1_0)
        .header(content_type)
        .body(body)?;
    // RFC 3834: an automatic, transactional message; auto-responders should stay quiet.
    message.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-generated".into(),
    ));
    if let Some(config) = dkim {
        message.sign(config);
    }
    let sha256 = hex::encode(Sha256::digest(message.formatted()));
    Ok(Rendered {
        message,
        message_id,
        sha256,
    })
}

/// A Message-ID's left side from the mail's key: the key's UUID without hyphens, or, for a
/// key that is not one, its digest (either way only characters a Message-ID may hold).
fn message_id_local_part(mail_key: &str) -> String {
    match uuid::Uuid::parse_str(mail_key) {
        Ok(uuid) => uuid.simple().to_string(),
        Err(_) => hex::encode(&Sha256::digest(mail_key.as_bytes())[..16]),
    }
}

/// The multipart's own `Content-Type` and its body, apart. lettre writes a multipart's
/// `Content-Type` with the parts, outside the message's headers, where its DKIM signer cannot
/// reach it; as a message header it is signed like the others.
fn top_level_mime(part: &MultiPart) -> anyhow::Result<(header::ContentType, Body)> {
    let formatted = part.formatted();
    let end = formatted
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("a multipart without headers"))?;
    let head = std::str::from_utf8(&formatted[..end])?;
    let value = head
        .strip_prefix("Content-Type:")
        .ok_or_else(|| anyhow::anyhow!("a multipart whose first header is not Content-Type"))?;
    // Unfold: the header may span lines.
    let value: String = value
        .split("\r\n")
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let content_type = header::ContentType::parse(&value)?;
    let body = formatted[end + 4..].to_vec();
    // A multipart's own encoding may only be 7bit or 8bit (RFC 2045 6.4): 8bit when a part
    // carries UTF-8 as is.
    let encoding = if body.is_ascii() {
        header::ContentTransferEncoding::SevenBit
    } else {
        header::ContentTransferEncoding::EightBit
    };
    // Already encoded, part by part, by lettre itself.
    Ok((content_type, Body::dangerous_pre_encoded(body, encoding)))
}

/// Headers the DKIM signature covers. From, Subject, To and Reply-To are listed once more
/// than they occur (RFC 6376 section 8.15), so a relay or forwarder that adds a second one
/// breaks the signature instead of showing its own.
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "Subject",
    "Subject",
    "To",
    "To",
    "Reply-To",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Auto-Submitted",
];

/// DKIM settings from (selector, domain, PEM key file): an RSA key in PKCS#1 PEM
/// (`BEGIN RSA PRIVATE KEY`; convert PKCS#8 with `openssl rsa -traditional`).
///
/// Relaxed/relaxed canonicalization: lettre hashes its own DKIM-Signature header before the
/// `b=` value is folded onto a new line, so under `simple` header canonicalization the
/// signature it sends never verifies (found by verifying with an independent implementation).
pub fn dkim_config(
    selector: &str,
    domain: &str,
    key_file: &str,
) -> anyhow::Result<dkim::DkimConfig> {
    let pem = std::fs::read_to_string(key_file)
        .map_err(|e| anyhow::anyhow!("cannot read DKIM key {key_file}: {e}"))?;
    let key = dkim::DkimSigningKey::new(&pem, dkim::DkimSigningAlgorithm::Rsa)
        .map_err(|e| anyhow::anyhow!("DKIM key {key_file}: {e}"))?;
    use lettre::message::header::HeaderName as Name;
    let headers = SIGNED_HEADERS
        .iter()
        .copied()
        .map(Name::new_from_ascii_str)
        .collect();
    Ok(dkim::DkimConfig::new(
        selector.to_owned(),
        domain.to_owned(),
        key,
        headers,
        dkim::DkimCanonicalization {
            header: dkim::DkimCanonicalizationType::Relaxed,
            body: dkim::DkimCanonicalizationType::Relaxed,
        },
    ))
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
