//! `consentry key create|revoke|list`.

use anyhow::Context;
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::config::Settings;
use crate::db::api_keys::{list_api_keys, revoke_api_key};
use crate::db::{self, Db};
use crate::domain::api_key::Role;
use crate::domain::ids::SenderId;
use crate::flows::setup;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; the secret is printed once and never stored.
    Create {
        /// Sender id the key belongs to.
        #[arg(long)]
        sender: String,
        #[arg(long, value_parser = ["sender", "auditor"])]
        role: String,
        /// Print `{"id": "...", "key": "csk_..."}`.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key; every instance refuses it within CONSENTRY_CACHE_REFRESH_MS.
    Revoke {
        /// The key id (the part between `csk_` and the second `_`).
        key_id: String,
    },
    /// List a sender's keys (ids, roles, revocation; never secrets).
    List {
        #[arg(long)]
        sender: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(settings: &Settings, command: KeyCommand) -> anyhow::Result<()> {
    let db = db::open(&settings.database_url, 1)?;
    match command {
        KeyCommand::Create { sender, role, json } => {
            let role = Role::parse(&role).context("role must be sender or auditor")?;
            let (id, key) = create_key(&db, &sender, role)?;
            if json {
                super::print_json(&json!({ "id": id, "key": key.expose_secret() }));
            } else {
                println!("key id: {id}\nkey:    {}", key.expose_secret());
                println!("The key is shown only now; store it in your secret manager.");
            }
        }
        KeyCommand::Revoke { key_id } => {
            revoke_key(&db, &key_id)?;
            println!("revoked key {key_id}");
        }
        KeyCommand::List { sender, json } => {
            let keys = list_api_keys(&mut *db.get()?, &super::sender_id(&sender)?)?;
            let rows: Vec<_> = keys
                .iter()
                .map(|k| {
                    json!({
                        "id": k.id, "role": k.role,
                        "created_at": crate::clock::rfc3339(k.created_at),
                        "revoked_at": k.revoked_at.map(crate::clock::rfc3339),
                    })
                })
                .collect();
            if json {
                super::print_json(&json!({ "keys": rows }));
            } else {
                for k in &keys {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!("{}  {:<7}  {state}", k.id, k.role);
                }
            }
        }
    }
    Ok(())
}

/// Creates a key for an existing sender; returns (key id, full key). A thin wrapper over
/// [`setup::create_key`] kept for tests and benchmarks.
pub fn create_key(db: &Db, sender_id: &str, role: Role) -> anyhow::Result<(String, SecretString)> {
    let sender_id = SenderId::parse(sender_id)
        .map_err(|_| setup::KeyError::UnknownSender(sender_id.to_owned()))?;
    let created = setup::create_key(&mut *db.get()?, &sender_id, role)?;
    Ok((created.id, created.key))
}

/// Revokes a key; an unknown id is an error.
pub fn revoke_key(db: &Db, key_id: &str) -> anyhow::Result<()> {
    if !revoke_api_key(&mut *db.get()?, key_id, crate::clock::now())? {
        anyhow::bail!("no key with id {key_id}");
    }
    Ok(())
}
