//! `consentry evidence FILE.eml [--json | --html]`: the operator's answer to a complaint desk,
//! across every sender: which sender mailed this person, on which consent, on what grounds.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

use crate::clock;
use crate::config::Settings;
use crate::db;
use crate::domain::report;
use crate::mail::templates::Templates;
use crate::views::evidence::{evidence_of, find_target, printable, record_with_evidence};

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// The mail as saved (`.eml`), or just its headers; `-` reads standard input.
    pub file: PathBuf,
    /// Print the consent record, its evidence and the receipt URL as one line of JSON.
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// Print the printable evidence as HTML (for a complaint desk or an ISP).
    #[arg(long)]
    pub html: bool,
    /// The language of the HTML: ja or en.
    #[arg(long, default_value = "ja", value_parser = ["ja", "en"])]
    pub lang: String,
}

/// Exits 1 when the mail names no consent of any sender.
pub fn run(settings: &Settings, args: EvidenceArgs) -> anyhow::Result<std::process::ExitCode> {
    let mut bytes = Vec::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(&args.file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?;
    }
    let report = report::read(&bytes, &settings.http.base_url);
    let db = db::open(&settings.database_url, 1)?;
    let secrets = crate::secrets::load(&db, settings)?;
    let mut conn = db.get()?;
    let now = clock::now().and_utc().timestamp();
    let Some(target) = find_target(&mut conn, &report, &secrets.token_keys, None, now)? else {
        eprintln!("no consent of any sender: the mail carries none of this service's links and no Message-ID of its confirmation mail");
        return Ok(std::process::ExitCode::from(1));
    };
    let Some((view, evidence)) = evidence_of(&mut conn, &target.consent, &settings.http.base_url)?
    else {
        anyhow::bail!("the consent's list or sender is gone");
    };
    if args.json {
        let mut record = record_with_evidence(&view, &evidence, target.kind);
        // Across senders, the operator needs to know whose record it is.
        record["sender_id"] = serde_json::to_value(&target.consent.sender_id)?;
        super::print_json(&record);
    } else if args.html {
        let templates =
            Templates::load(settings.templates_dir.as_deref().map(std::path::Path::new))?;
        print!("{}", printable(&templates, &view, &evidence, &args.lang)?);
    } else {
        let s = &evidence.sender;
        println!("mail       {}", target.kind);
        println!(
            "sender     {} ({})",
            s["legal_name"].as_str().unwrap_or(""),
            target.consent.sender_id
        );
        println!("           {}", s["postal_address"].as_str().unwrap_or(""));
        println!("contact    {}", s["contact"].as_str().unwrap_or(""));
        println!(
            "list       {} ({})",
            evidence.list["name"].as_str().unwrap_or(""),
            evidence.list["slug"].as_str().unwrap_or("")
        );
        println!("consent    {} ({})", evidence.consent_id, evidence.status);
        println!(
            "requested  {} via {}",
            evidence.requested_at,
            evidence.claimed["collection_method"].as_str().unwrap_or("")
        );
        match &evidence.confirmed_at {
            Some(at) => {
                println!("confirmed  {at} by the address owner (button on the confirmation page)")
            }
            None => println!("confirmed  never"),
        }
        println!("receipt    {}", evidence.receipt_url);
    }
    Ok(std::process::ExitCode::SUCCESS)
}
