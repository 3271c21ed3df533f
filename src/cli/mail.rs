//! `consentry mail show [FILE]`: prints a mail written by the file transport (the embedded
//! default) as a person reads it, so the demo's confirm link can be copied from a terminal.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Print a `.eml` file's headers and text body; default: the newest in the mail directory.
    Show {
        /// The `.eml` file; omitted: the newest under CONSENTRY_MAIL_URL's `file://` directory.
        file: Option<PathBuf>,
    },
}

pub fn run(settings: &Settings, command: MailCommand) -> anyhow::Result<()> {
    let MailCommand::Show { file } = command;
    let file = match file {
        Some(file) => file,
        None => newest_mail(settings)?,
    };
    let raw =
        std::fs::read(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let message = mail_parser::MessageParser::default()
        .parse(&raw)
        .ok_or_else(|| anyhow::anyhow!("{} is not a mail message", file.display()))?;
    println!("File:    {}", file.display());
    let to = message
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("");
    println!("To:      {to}");
    println!("Subject: {}\n", message.subject().unwrap_or(""));
    // Terminal output: CRLF line ends would end up inside copied links.
    let body = message
        .body_text(0)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    println!("{body}");
    Ok(())
}

fn newest_mail(settings: &Settings) -> anyhow::Result<PathBuf> {
    let url = settings.mail.url.expose_secret();
    let dir = url
        .strip_prefix("file://")
        .ok_or_else(|| anyhow::anyhow!("CONSENTRY_MAIL_URL is not file://; name the .eml file"))?;
    let newest = std::fs::read_dir(Path::new(dir))
        .map_err(|e| anyhow::anyhow!("cannot read {dir}: {e}"))?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    newest
        .map(|e| e.path())
        .ok_or_else(|| anyhow::anyhow!("no mail in {dir} yet"))
}
