//! `consentry sender create`.

use clap::Subcommand;
use serde_json::json;

use crate::config::Settings;
use crate::db::senders::{insert_sender, Sender};
use crate::db::{self, Db};
use crate::domain::sender::SenderProfile;

#[derive(Debug, Subcommand)]
pub enum SenderCommand {
    /// Create a sender with the legal identity its mail must display.
    Create {
        /// Short display name.
        #[arg(long)]
        name: String,
        /// Legal name of the sending business (特定電子メール法 Art. 4).
        #[arg(long)]
        legal_name: String,
        #[arg(long)]
        postal_address: String,
        /// Contact for recipients: an email address, phone number or URL.
        #[arg(long)]
        contact: String,
        /// The party this sender sends on behalf of (送信委託者), if any.
        #[arg(long)]
        on_behalf_of: Option<String>,
        /// Two-letter country code whose law applies.
        #[arg(long, default_value = "JP")]
        jurisdiction: String,
        /// Print `{"id": "..."}`.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(settings: &Settings, command: SenderCommand) -> anyhow::Result<()> {
    let SenderCommand::Create {
        name,
        legal_name,
        postal_address,
        contact,
        on_behalf_of,
        jurisdiction,
        json,
    } = command;
    let profile = SenderProfile::parse(
        &name,
        &legal_name,
        &postal_address,
        &contact,
        on_behalf_of.as_deref(),
        &jurisdiction,
    )?;
    let db = db::open(&settings.database_url, 1)?;
    let id = create_sender(&db, profile)?;
    if json {
        super::print_json(&json!({ "id": id }));
    } else {
        println!("created sender {id}");
    }
    Ok(())
}

/// Stores a new sender and returns its id.
pub fn create_sender(db: &Db, profile: SenderProfile) -> anyhow::Result<String> {
    let sender = Sender {
        id: uuid::Uuid::now_v7().to_string(),
        name: profile.name,
        legal_name: profile.legal_name,
        postal_address: profile.postal_address,
        contact: profile.contact,
        on_behalf_of: profile.on_behalf_of,
        jurisdiction: profile.jurisdiction,
        retention_days: 31,
        legal_hold: false,
        created_at: crate::clock::now(),
    };
    let mut conn = db.get()?;
    db::write_transaction(&mut conn, |conn| {
        insert_sender(conn, &sender)?;
        db::ledger::insert_chain_head(conn, &sender.id, sender.created_at)
    })?;
    Ok(sender.id)
}
