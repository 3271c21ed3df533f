//! `consentry sender create|update|show`.

use clap::Subcommand;
use serde_json::json;

use crate::config::Settings;
use crate::db::senders::{find_sender, update_retention};
use crate::db::{self, Db};
use crate::domain::sender::{parse_retention, SenderProfile, MIN_RETENTION_DAYS};
use crate::domain::standing::Standing;
use crate::flows::setup;

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
        /// How long ended consents keep their personal data: 1m, 3y or <n>d (at least 31d).
        #[arg(long, default_value = "1m")]
        retention: String,
        /// Start in this standing instead of probation (a sender the operator already knows).
        #[arg(long, value_parser = ["probation", "good", "watch", "restricted"])]
        standing: Option<String>,
        /// Print `{"id": "..."}`.
        #[arg(long)]
        json: bool,
    },
    /// Show a sender's standing, or set it after a review (`--set good|watch|restricted|probation --reason TEXT`).
    Standing(super::standing::StandingArgs),
    /// Show a sender's reputation: counts and rates over the window, standing and signals.
    Reputation {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a sender's retention period or legal hold.
    Update {
        id: String,
        /// 1m (31 days), 3y (1096 days, 特定商取引法) or <n>d, at least 31d.
        #[arg(long)]
        retention: Option<String>,
        /// `on` stops minimisation of this sender's personal data (litigation, inquiry).
        #[arg(long, value_parser = ["on", "off"])]
        legal_hold: Option<String>,
    },
    /// Show a sender's identity, retention and legal hold.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(settings: &Settings, command: SenderCommand) -> anyhow::Result<()> {
    let db = db::open(&settings.database_url, 1)?;
    match command {
        SenderCommand::Create {
            name,
            legal_name,
            postal_address,
            contact,
            on_behalf_of,
            jurisdiction,
            retention,
            standing,
            json,
        } => {
            let profile = SenderProfile::parse(
                &name,
                &legal_name,
                &postal_address,
                &contact,
                on_behalf_of.as_deref(),
                &jurisdiction,
            )?;
            let retention_days = parse_retention(&retention)?;
            let set = standing.as_deref().map(Standing::parse).transpose()?;
            let rules = settings.standing.rules();
            let start = setup::StandingAtStart { rules: &rules, set };
            let id = setup::create_sender(&mut *db.get()?, profile, retention_days, &start)?;
            if json {
                super::print_json(&json!({ "id": id }));
            } else {
                println!("created sender {id}");
            }
        }
        SenderCommand::Update {
            id,
            retention,
            legal_hold,
        } => {
            let days = retention.as_deref().map(parse_retention).transpose()?;
            let hold = legal_hold.map(|h| h == "on");
            if !update_retention(&mut *db.get()?, &super::sender_id(&id)?, days, hold)? {
                anyhow::bail!("no sender with id {id}");
            }
            show(&db, &id, false)?;
        }
        SenderCommand::Show { id, json } => show(&db, &id, json)?,
        SenderCommand::Standing(args) => super::standing::standing(settings, &db, args)?,
        SenderCommand::Reputation { id, json } => {
            super::standing::reputation(settings, &db, &id, json)?
        }
    }
    Ok(())
}

fn show(db: &Db, id: &str, as_json: bool) -> anyhow::Result<()> {
    let sender = find_sender(&mut *db.get()?, &super::sender_id(id)?)?
        .ok_or_else(|| anyhow::anyhow!("no sender with id {id}"))?;
    let view = json!({
        "id": sender.id, "name": sender.name, "legal_name": sender.legal_name,
        "postal_address": sender.postal_address, "contact": sender.contact,
        "on_behalf_of": sender.on_behalf_of, "jurisdiction": sender.jurisdiction,
        "retention_days": sender.retention_days, "legal_hold": sender.legal_hold,
        "created_at": crate::clock::rfc3339(sender.created_at),
    });
    if as_json {
        super::print_json(&view);
    } else {
        println!("{} ({})", sender.legal_name, sender.id);
        println!(
            "  retention   {} days after a consent ends",
            sender.retention_days
        );
        let hold = if sender.legal_hold {
            "on: nothing is minimised"
        } else {
            "off"
        };
        println!("  legal hold  {hold}");
    }
    Ok(())
}

/// Stores a new sender (minimum retention) and returns its id; a thin wrapper over
/// [`flows::setup::create_sender`] kept for tests and benchmarks.
pub fn create_sender(db: &Db, profile: SenderProfile) -> anyhow::Result<String> {
    create_sender_in(db, profile, None)
}

/// As [`create_sender`], starting in `standing` (`None`: probation, with the default rules).
pub fn create_sender_in(
    db: &Db,
    profile: SenderProfile,
    standing: Option<Standing>,
) -> anyhow::Result<String> {
    let rules = crate::domain::standing::Rules::default();
    let start = setup::StandingAtStart {
        rules: &rules,
        set: standing,
    };
    Ok(setup::create_sender(&mut *db.get()?, profile, MIN_RETENTION_DAYS, &start)?.into_string())
}
