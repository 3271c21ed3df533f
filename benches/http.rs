//! Throughput of the request path: authenticated `GET /v1/lists/{slug}` next to `/healthz` on
//! the same server, on SQLite. Prints figures; asserts nothing.
//!
//! `cargo bench --bench http` (`BENCH_SECONDS`, `BENCH_CONNECTIONS` to change the run;
//! `CONSENTRY_BENCH_DATABASE_URL=postgres://...` to run against an existing, empty database).

#[path = "load.rs"]
mod load;
#[path = "server.rs"]
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use consentry::config::Settings;
use consentry::startup::Application;
use server::{env_number, seed_sender};

/// Starts the server on its own thread (as `consentry serve` runs) with a sender, a key and a
/// list; returns its address and the key.
fn start_server(database_url: String) -> anyhow::Result<(SocketAddr, String)> {
    let settings = Settings::from_lookup(|name| match name {
        "database_url" => Some(database_url.clone()),
        "bind" => Some("127.0.0.1:0".into()),
        "log" => Some("error".into()),
        _ => None,
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = match Application::build(settings).await {
                Ok(app) => app,
                Err(e) => return tx.send(Err(e)).unwrap_or(()),
            };
            let db = app.state().db.clone();
            let seeded =
                seed_sender(&db).map(|seeded| (format!("127.0.0.1:{}", app.port()), seeded.key));
            let _ = tx.send(seeded);
            let _ = app.run_until_stopped().await;
        })
    });
    let (address, key) = rx.recv()??;
    Ok((address.parse()?, key))
}

fn main() -> anyhow::Result<()> {
    let seconds = env_number("BENCH_SECONDS", 5);
    let connections = env_number("BENCH_CONNECTIONS", 64) as usize;
    let dir = tempfile::tempdir()?;
    let database_url = std::env::var("CONSENTRY_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let (address, key) = start_server(database_url)?;

    let auth = format!("Bearer {key}");
    let healthz = load::request("GET", "/healthz", &[], None);
    let list = load::request(
        "GET",
        "/v1/lists/newsletter",
        &[("Authorization", &auth)],
        None,
    );

    // The load generator gets one thread of its own; the server has its worker threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let measure = |name: &str, request: &load::Template| -> anyhow::Result<f64> {
        runtime.block_on(load::run(
            address,
            request.clone(),
            connections,
            Duration::from_secs(1),
        ))?;
        let report = runtime.block_on(load::run(
            address,
            request.clone(),
            connections,
            Duration::from_secs(seconds),
        ))?;
        println!("{name:<36} {report}");
        anyhow::ensure!(report.errors == 0, "{name}: {} errors", report.errors);
        Ok(report.rate())
    };
    println!(
        "{} cores, {connections} connections, {seconds} s per run, release build",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let health = measure("GET /healthz", &healthz)?;
    let lists = measure("GET /v1/lists/{slug} (authenticated)", &list)?;
    println!("ratio lists/healthz: {:.2}", lists / health);
    Ok(())
}
