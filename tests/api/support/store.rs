//! Reads and writes straight on the test database, as someone with database access would;
//! for effects the API does not show (outbox attempts) and for waiting on workers.

use std::time::Duration;

use consentry::domain::token::Action;
use serde_json::Value;

use super::app::TestApp;

impl TestApp {
    /// Mail jobs in the outbox for a consent, straight from storage.
    pub async fn mail_jobs(&self, consent_id: &str) -> i64 {
        use consentry::db::schema::outbox;
        use diesel::prelude::*;
        let db = self.db.clone();
        let id = consent_id.to_owned();
        tokio::task::spawn_blocking(move || {
            outbox::table
                .filter(outbox::consent_id.eq(id))
                .count()
                .get_result::<i64>(&mut *db.get().unwrap())
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// Appends `n` padded `checked` events to the sender's chain, straight in storage: a chain
    /// whose export is megabytes long, made in a moment.
    pub async fn pad_chain(&self, n: usize) {
        use consentry::db::ledger::{append_event, NewEvent};
        use consentry::domain::event_kind::EventKind;
        let sender_id = consentry::domain::ids::SenderId::parse(&self.sender_id().await).unwrap();
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get().unwrap();
            let padding = "x".repeat(1500);
            consentry::db::write_transaction(&mut conn, |conn| {
                for _ in 0..n {
                    let data = serde_json::json!({"count": 0, "padding": padding});
                    let event = NewEvent::new(EventKind::Checked, data);
                    append_event(
                        conn,
                        &sender_id,
                        event,
                        consentry::clock::now(),
                        &Default::default(),
                    )?;
                }
                Ok(())
            })
            .unwrap();
        })
        .await
        .unwrap()
    }

    /// The `Idempotency-Key` column as stored.
    pub async fn idempotency_keys(&self) -> Vec<String> {
        use consentry::db::schema::idempotency_keys;
        use diesel::prelude::*;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            idempotency_keys::table
                .select(idempotency_keys::key)
                .load::<String>(&mut *db.get().unwrap())
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// Attempts made so far on a consent's mail jobs, straight from storage.
    pub async fn mail_attempts(&self, consent_id: &str) -> i64 {
        use consentry::db::schema::outbox;
        use diesel::prelude::*;
        let db = self.db.clone();
        let id = consent_id.to_owned();
        tokio::task::spawn_blocking(move || {
            outbox::table
                .filter(outbox::consent_id.eq(id))
                .select(outbox::attempts)
                .load::<i64>(&mut *db.get().unwrap())
                .unwrap()
                .into_iter()
                .sum()
        })
        .await
        .unwrap()
    }

    /// A ledger event by id, as (kind, data), if it exists.
    pub async fn event(&self, id: &str) -> Option<(String, Value)> {
        use consentry::db::schema::events;
        use diesel::prelude::*;
        let db = self.db.clone();
        let id = id.to_owned();
        let found: Option<(String, String)> = tokio::task::spawn_blocking(move || {
            events::table
                .find(id)
                .select((events::kind, events::data))
                .first(&mut *db.get().unwrap())
                .optional()
                .unwrap()
        })
        .await
        .unwrap();
        found.map(|(kind, data)| (kind, serde_json::from_str(&data).unwrap()))
    }

    /// The data of every `confirmation_sent` event, straight from storage.
    async fn confirmations_sent(&self) -> Vec<Value> {
        use consentry::db::schema::events;
        use diesel::prelude::*;
        let db = self.db.clone();
        let found: Vec<String> = tokio::task::spawn_blocking(move || {
            events::table
                .filter(events::kind.eq("confirmation_sent"))
                .select(events::data)
                .load(&mut *db.get().unwrap())
                .unwrap()
        })
        .await
        .unwrap();
        found
            .iter()
            .map(|data| serde_json::from_str(data).unwrap())
            .collect()
    }

    /// Waits until the worker recorded `confirmation_sent` for the mail with `message_id`
    /// (the SMTP server keeps a mail before it answers 250; the worker records after it).
    pub async fn wait_for_confirmation_sent(&self, message_id: &str) {
        let wanted = format!("<{}>", message_id.trim_matches(['<', '>']));
        for _ in 0..600 {
            let sent = self.confirmations_sent().await;
            if sent
                .iter()
                .any(|data| data["message_id"] == wanted.as_str())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no confirmation_sent event for the mail {wanted}");
    }

    /// Runs SQL straight on the test database, as someone with database access would.
    pub async fn sql(&self, statements: &str) {
        use diesel::connection::SimpleConnection;
        let db = self.db.clone();
        let statements = statements.to_owned();
        tokio::task::spawn_blocking(move || db.get().unwrap().batch_execute(&statements))
            .await
            .unwrap()
            .unwrap();
    }

    /// Whether the test database is PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.db.backend() == consentry::db::Backend::Postgres
    }

    /// The sender id of the test app's keys.
    pub async fn sender_id(&self) -> String {
        let state = self.state.clone();
        let key = self.sender_key.clone();
        let caller =
            consentry::auth::authenticate(&state.db, &state.caches, &state.key_gate, &key, None)
                .await
                .unwrap();
        caller.sender_id.to_string()
    }
}

impl TestApp {
    /// (status, last error) of each mail job of a consent, straight from storage.
    pub async fn mail_job_states(&self, consent_id: &str) -> Vec<(String, Option<String>)> {
        use consentry::db::schema::outbox;
        use diesel::prelude::*;
        let db = self.db.clone();
        let id = consent_id.to_owned();
        tokio::task::spawn_blocking(move || {
            outbox::table
                .filter(outbox::consent_id.eq(id))
                .select((outbox::status, outbox::last_error))
                .load::<(String, Option<String>)>(&mut *db.get().unwrap())
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// The link of `action` that a confirmation mail for this consent carries now (signed with
    /// the server's key and the consent's current nonce, as the mail worker signs it), for
    /// mail the test does not wait for or that could not be delivered.
    pub async fn link_of(&self, consent_id: &str, action: Action) -> String {
        use consentry::db::schema::consents;
        use consentry::domain::token::{sign, LinkClaims};
        use diesel::prelude::*;
        let db = self.db.clone();
        let id = consent_id.to_owned();
        let nonce: String = tokio::task::spawn_blocking(move || {
            consents::table
                .find(id)
                .select(consents::nonce)
                .first(&mut *db.get().unwrap())
                .unwrap()
        })
        .await
        .unwrap();
        let claims = LinkClaims {
            action,
            consent_id: consent_id.parse().unwrap(),
            nonce,
            expires_at: None,
        };
        let prefix = match action {
            Action::Confirm => "c",
            Action::Refuse => "r",
            Action::Unsubscribe => "u",
        };
        format!(
            "{}/{prefix}/{}",
            super::BASE_URL,
            sign(&self.state.secrets.token_keys, &claims)
        )
    }
}
