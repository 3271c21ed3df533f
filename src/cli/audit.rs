//! `consentry audit export|verify|public-key`: the auditor's evidence from the command line.
//! `verify` needs no database: it checks an exported file against the public key only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use crate::audit::checkpoint::VerifyingKeys;
use crate::audit::export::{write_export, Format};
use crate::audit::file::verify_export;
use crate::audit::verify::Report;
use crate::config::Settings;
use crate::domain::ids::SenderId;
use crate::flows::export::{record_export, ExportRequest};
use crate::{clock, db, secrets};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Export a sender's ledger (NDJSON or CSV) ending with a signed checkpoint; the export
    /// is recorded in the ledger first.
    Export {
        #[arg(long)]
        sender: String,
        /// Where to write; written beside it as FILE.partial and renamed when complete.
        #[arg(long)]
        out: PathBuf,
        /// Export events after this seq (default: from the start).
        #[arg(long, default_value_t = 0)]
        after_seq: i64,
        /// At most this many events.
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "csv"])]
        format: String,
    },
    /// Verify an exported file offline: hashes, seq continuity, links, personal data against
    /// its digests, and the closing checkpoint. Exits 1 naming the first bad seq.
    Verify {
        file: PathBuf,
        /// A public key that signs checkpoints: `kid:base64url` or bare base64url (repeatable).
        #[arg(long = "public-key")]
        public_keys: Vec<String>,
        /// A JWKS file as served at /.well-known/jwks.json.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the public keys that verify checkpoints (the JWKS at /.well-known/jwks.json).
    PublicKey,
}

pub fn run(settings: &Settings, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Export {
            sender,
            out,
            after_seq,
            limit,
            format,
        } => {
            let format = Format::parse(&format).context("format must be ndjson or csv")?;
            if after_seq < 0 || limit.is_some_and(|l| l < 1) {
                anyhow::bail!("--after-seq must be 0 or more and --limit 1 or more");
            }
            let request = ExportRequest {
                after_seq,
                limit,
                format,
                actor: json!({ "channel": "cli", "user": std::env::var("USER").ok() }),
            };
            export(settings, &super::sender_id(&sender)?, &request, &out)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            file,
            public_keys,
            keys,
            json,
        } => verify(&file, &public_keys, keys.as_deref(), json),
        AuditCommand::PublicKey => {
            let db = db::open(&settings.database_url, 1)?;
            let secrets = secrets::load(&db, settings)?;
            println!("{:#}", secrets.signing_keys.jwks());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn export(
    settings: &Settings,
    sender_id: &SenderId,
    request: &ExportRequest,
    out: &Path,
) -> anyhow::Result<()> {
    let db = db::open(&settings.database_url, 1)?;
    let secrets = secrets::load(&db, settings)?;
    if db::senders::find_sender(&mut *db.get()?, sender_id)?.is_none() {
        anyhow::bail!("no sender with id {sender_id}");
    }
    let (range, event) = record_export(&mut *db.get()?, sender_id, request, clock::now())?
        .context("--after-seq is past the end of the chain")?;
    let partial = out.with_extension(match out.extension() {
        Some(ext) => format!("{}.partial", ext.to_string_lossy()),
        None => "partial".into(),
    });
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let unfinished = RemoveOnDrop(&partial);
    let bar = indicatif::ProgressBar::new((range.through_seq - range.after_seq) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} events  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut conn = db.scan_connection()?;
    let written = write_export(
        &mut conn,
        sender_id,
        range,
        request.format,
        &secrets.signing_keys,
        file,
        |n| bar.set_position(n),
    );
    bar.finish_and_clear();
    let checkpoint = written?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot move the export to {}", out.display()))?;
    std::mem::forget(unfinished);
    println!(
        "exported {} events (seq {}..={}) to {}",
        range.through_seq - range.after_seq,
        range.after_seq + 1,
        range.through_seq,
        out.display()
    );
    println!(
        "recorded as event {} (seq {}); closing checkpoint signed by key {}",
        event.id, event.seq, checkpoint.key_id
    );
    Ok(())
}

/// Removes an unfinished export however the export ends (an error or a panic), so no file
/// that looks like an export but lacks its end is left behind.
struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

fn verify(
    file: &Path,
    public_keys: &[String],
    jwks: Option<&Path>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let mut keys = match jwks {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            VerifyingKeys::from_jwks(&serde_json::from_str(&text)?)?
        }
        None => VerifyingKeys::default(),
    };
    for key in public_keys {
        keys.add_public_key(key)?;
    }
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let keys = (!keys.is_empty()).then_some(&keys);
    let report = verify_export(std::io::BufReader::new(input), keys)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", describe(&report));
    }
    std::io::stdout().flush()?;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The report as a person reads it.
fn describe(report: &Report) -> String {
    let mut out = String::new();
    let head = report
        .head
        .as_ref()
        .map(|h| {
            format!(
                "seq {}, hash {}",
                h["seq"],
                h["hash"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_else(|| "none".into());
    if report.ok {
        out.push_str(&format!(
            "VERIFIED: {} events from seq {}; last {head}\n",
            report.events,
            report.first_seq.unwrap_or(1)
        ));
    } else {
        out.push_str(&format!(
            "FAILED at seq {}: {}\n",
            report.first_bad_seq.unwrap_or_default(),
            report.reason.as_deref().unwrap_or("")
        ));
        out.push_str(&format!(
            "verified before it: {} events; last {head}\n",
            report.events
        ));
    }
    out.push_str(&format!(
        "personal data: {} records match their digests, {} erased\n",
        report.pii_verified, report.pii_erased
    ));
    if let Some(c) = &report.checkpoint {
        let signature = if report.signature_verified == Some(true) {
            "signature valid".to_owned()
        } else if report.ok {
            "signature NOT checked: pass --keys jwks.json or --public-key".to_owned()
        } else {
            "signature not checked".to_owned()
        };
        out.push_str(&format!(
            "checkpoint: seq {} signed {} by key {}: {signature}\n",
            c.seq, c.at, c.key_id
        ));
    }
    out
}
