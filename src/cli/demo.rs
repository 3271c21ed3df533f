//! `consentry demo`: the service on the embedded default (SQLite file, mail to files) with a
//! demo sender, a sender key, an auditor key and a list, printed with commands to try.
//!
//! The demo keys are kept in the database (`server_settings`) so that every run prints the
//! same working keys; that is a convenience for a local demo, never for production.

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::key::create_key;
use super::sender::create_sender;
use crate::config::Settings;
use crate::db::{self, lists, settings as stored, Db};
use crate::domain::api_key::Role;
use crate::domain::list::ConsentText;
use crate::domain::sender::SenderProfile;
use crate::startup::Application;

const DEMO_CREDENTIALS: &str = "demo.credentials";

#[derive(Serialize, Deserialize)]
struct Credentials {
    sender_id: String,
    sender_key: String,
    auditor_key: String,
    list: String,
}

pub fn run(settings: Settings) -> anyhow::Result<()> {
    let db = db::open(&settings.database_url, 1)?;
    let credentials = demo_credentials(&db)?;
    drop(db);
    actix_web::rt::System::new().block_on(async move {
        let base_url = settings.http.base_url.clone();
        let app = Application::build(settings).await?;
        println!("{}", banner(&credentials, &app.local_url(), &base_url));
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// The stored demo credentials, created on first run.
fn demo_credentials(db: &Db) -> anyhow::Result<Credentials> {
    if let Some(stored) = stored::find_setting(&mut *db.get()?, DEMO_CREDENTIALS)? {
        return Ok(serde_json::from_str(&stored)?);
    }
    let profile = SenderProfile::parse(
        "Demo Shop",
        "Demo Shop K.K.",
        "1-1 Chiyoda, Chiyoda-ku, Tokyo 100-0001, Japan",
        "privacy@demo-shop.example",
        None,
        "JP",
    )?;
    let sender_id = create_sender(db, profile)?;
    let (_, sender_key) = create_key(db, &sender_id, Role::Sender)?;
    let (_, auditor_key) = create_key(db, &sender_id, Role::Auditor)?;
    let text = ConsentText::parse(
        "I agree to receive the Demo Shop newsletter by email. I can unsubscribe at any time.",
    )?;
    let (list, first_text) = lists::new_list_rows(
        &super::sender_id(&sender_id)?,
        "newsletter",
        "Demo Shop newsletter".into(),
        &text,
        "https://demo-shop.example/privacy".into(),
        "en",
        crate::clock::now(),
    );
    lists::insert_list(&mut *db.get()?, &list, &first_text)?;
    let credentials = Credentials {
        sender_id,
        sender_key: sender_key.expose_secret().to_owned(),
        auditor_key: auditor_key.expose_secret().to_owned(),
        list: list.slug,
    };
    stored::insert_setting_once(
        &mut *db.get()?,
        DEMO_CREDENTIALS,
        &serde_json::to_string(&credentials)?,
    )?;
    Ok(credentials)
}

fn banner(c: &Credentials, api: &str, base_url: &str) -> String {
    format!(
        r#"
Consentry demo is running at {api} (links in mail use {base_url}).

  sender id    {sender_id}
  sender key   {sender_key}
  auditor key  {auditor_key}
  list         {list}

Try it in another terminal:

  export CONSENTRY_KEY={sender_key}
  curl -s {api}/v1/lists -H "Authorization: Bearer $CONSENTRY_KEY"
  curl -s -X POST {api}/v1/lists -H "Authorization: Bearer $CONSENTRY_KEY" \
       -H 'Content-Type: application/json' \
       -d '{{"slug":"offers","name":"Weekly offers","consent_text":"I agree to receive weekly offers by email.","policy_url":"https://demo-shop.example/privacy","locale":"ja"}}'
  curl -s {api}/v1/lists/offers -H "Authorization: Bearer $CONSENTRY_KEY"

Double opt-in, step by step (the README explains each step):

  curl -s -X POST {api}/v1/consents -H "Authorization: Bearer $CONSENTRY_KEY" \
       -H 'Content-Type: application/json' -d '{{"list":"newsletter","email":"you@example.com"}}'
  cargo run --release -- mail show      # the confirmation mail; open its confirm link in a browser
  curl -s "{api}/v1/check?list=newsletter&email=you@example.com" -H "Authorization: Bearer $CONSENTRY_KEY"

Evidence, as an auditor sees it:

  export AUDITOR_KEY={auditor_key}
  curl -s {api}/v1/audit/events -H "Authorization: Bearer $AUDITOR_KEY" > ledger.ndjson
  curl -s {api}/.well-known/jwks.json > jwks.json
  cargo run --release -- audit verify ledger.ndjson --keys jwks.json
  curl -s {api}/v1/audit/verify -H "Authorization: Bearer $AUDITOR_KEY"

  curl -s {api}/metrics | head
  curl -s {api}/openapi.json | head

Stop with Ctrl-C. Data lives in the SQLite file of CONSENTRY_DATABASE_URL; delete it to start over.
"#,
        sender_id = c.sender_id,
        sender_key = c.sender_key,
        auditor_key = c.auditor_key,
        list = c.list,
    )
}
