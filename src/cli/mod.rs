//! The operator's command line. Every command reads the same `CONSENTRY_*` settings and
//! applies pending migrations first, so each works on a fresh database.

pub mod audit;
pub mod demo;
pub mod evidence;
pub mod key;
pub mod mail;
pub mod sender;
pub mod serve;
pub mod standing;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "consentry",
    version,
    about = "Proves opt-in consent for email."
)]
pub struct Cli {
    /// Optional TOML settings file; CONSENTRY_* environment variables override it.
    #[arg(long, global = true, env = "CONSENTRY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (applies migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Run the service on the embedded default with a demo sender, keys and list.
    Demo,
    /// Manage senders (tenants).
    #[command(subcommand)]
    Sender(sender::SenderCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Read mail written by the file transport.
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// Export and verify the ledger; print the checkpoint signing keys.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// From a mail (or its headers) to the consent it was sent on, across every sender.
    Evidence(evidence::EvidenceArgs),
}

impl Cli {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings::load(self.config.as_deref())?)
    }
}

/// Runs the parsed command; the exit code says whether it succeeded (`audit verify` exits 1
/// for a file that does not verify).
pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let settings = cli.settings()?;
    crate::telemetry::init(&settings.log, settings.log_format);
    match cli.command {
        Command::Serve => serve::run(settings),
        Command::Migrate => {
            let db = crate::db::open(&settings.database_url, 1)?;
            drop(db);
            println!("migrations are up to date");
            Ok(())
        }
        Command::Demo => demo::run(settings),
        Command::Sender(command) => sender::run(&settings, command),
        Command::Key(command) => key::run(&settings, command),
        Command::Mail(command) => mail::run(&settings, command),
        Command::Audit(command) => return audit::run(&settings, command),
        Command::Evidence(args) => return evidence::run(&settings, args),
    }?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// A sender id from the command line; one not in the form this service issues names no
/// sender.
fn sender_id(raw: &str) -> anyhow::Result<crate::domain::ids::SenderId> {
    crate::domain::ids::SenderId::parse(raw).map_err(|_| anyhow::anyhow!("no sender with id {raw}"))
}

/// Prints `value` as one line of JSON.
fn print_json(value: &serde_json::Value) {
    println!("{value}");
}
