//! `consentry sender standing ID [--set STANDING --reason TEXT]` and
//! `consentry sender reputation ID [--json]`: the operator's review of a sender.

use clap::Args;

use crate::clock;
use crate::config::Settings;
use crate::db::{write_transaction, Db};
use crate::domain::standing::Standing;
use crate::flows::standing::set_by_operator;
use crate::views::reputation::{reputation as reputation_of, Reputation};

#[derive(Debug, Args)]
pub struct StandingArgs {
    pub id: String,
    /// The standing after your review: `good` ends probation, `probation` starts it again.
    #[arg(long, value_parser = ["good", "watch", "restricted", "probation"], requires = "reason")]
    pub set: Option<String>,
    /// Why (recorded on the sender's chain and sent as a webhook).
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn load(settings: &Settings, db: &Db, id: &str) -> anyhow::Result<Reputation> {
    let sender_id = super::sender_id(id)?;
    let rules = settings.standing.rules();
    reputation_of(&mut *db.get()?, &sender_id, &rules, clock::now())?
        .ok_or_else(|| anyhow::anyhow!("no sender with id {id}"))
}

pub fn standing(settings: &Settings, db: &Db, args: StandingArgs) -> anyhow::Result<()> {
    if let (Some(set), Some(reason)) = (&args.set, &args.reason) {
        let reason = reason.trim();
        if reason.is_empty() {
            anyhow::bail!("--reason must say why");
        }
        let standing = Standing::parse(set)?;
        let sender_id = super::sender_id(&args.id)?;
        let rules = settings.standing.rules();
        let before = write_transaction(&mut *db.get()?, |conn| {
            set_by_operator(conn, &sender_id, standing, reason, &rules, clock::now())
        })?
        .ok_or_else(|| anyhow::anyhow!("no sender with id {}", args.id))?;
        if !args.json {
            println!("standing of {}: {before} → {standing}", args.id);
        }
    }
    let view = load(settings, db, &args.id)?;
    if args.json {
        super::print_json(&serde_json::to_value(&view)?);
    } else {
        print_standing(&view);
    }
    Ok(())
}

pub fn reputation(settings: &Settings, db: &Db, id: &str, json: bool) -> anyhow::Result<()> {
    let view = load(settings, db, id)?;
    if json {
        super::print_json(&serde_json::to_value(&view)?);
        return Ok(());
    }
    print_standing(&view);
    println!("  last {} days", view.window_days);
    for (name, n) in view.counts.named() {
        println!("    {:<14}{n:>10}", name.replace('_', " "));
    }
    let r = &view.rates;
    println!(
        "  rates   confirmation {:.1} %, refusal {:.2} %, complaint {:.3} %, unsubscribe {:.2} %",
        r.confirmation * 100.0,
        r.refusal * 100.0,
        r.complaint * 100.0,
        r.unsubscribe * 100.0
    );
    Ok(())
}

fn print_standing(view: &Reputation) {
    let cap = view.daily_confirmation_cap.map_or("none".to_owned(), |c| {
        format!("{c} per 24 h ({} used)", view.queued_last_24h)
    });
    println!(
        "{} standing {} (set by {})",
        view.sender_id, view.standing, view.set_by
    );
    println!("  confirmation mail cap  {cap}");
    if let Some(reason) = &view.reason {
        println!("  reason  {reason}");
    }
    if let Some(at) = &view.reviewed_at {
        println!("  reviewed  {at}");
    }
    for s in &view.signals {
        println!(
            "  signal  {} since {}: {}",
            s["code"].as_str().unwrap_or(""),
            s["since"].as_str().unwrap_or(""),
            s["detail"].as_str().unwrap_or("")
        );
    }
}
