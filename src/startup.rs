//! Wires storage, secrets, caches and routes into a running server. Tests and benchmarks
//! build it on port 0 and read the bound port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::cache::{self, Caches};
use crate::config::Settings;
use crate::db::{self, Db};
use crate::http;
use crate::limits::SenderLimiter;
use crate::mail::templates::Templates;
use crate::mail::transport::Transport;
use crate::mail::worker::MailWorker;
use crate::metrics::{self, Metrics};
use crate::permits::Permits;
use crate::secrets;
use crate::state::AppState;
use crate::views::check_queue::CheckQueue;
use crate::webhooks::WebhookWorker;

/// The outbox worker for this server's transport, sender address and DKIM key.
fn mail_worker(state: &AppState, metrics: &Metrics) -> anyhow::Result<MailWorker> {
    use secrecy::ExposeSecret;
    let settings = &state.settings;
    let from = settings
        .mail
        .from
        .parse()
        .map_err(|e| anyhow::anyhow!("CONSENTRY_MAIL_FROM: {e}"))?;
    let dkim = match &settings.mail.dkim {
        Some((selector, domain, key_file)) => Some(crate::mail::message::dkim_config(
            selector, domain, key_file,
        )?),
        None => None,
    };
    Ok(MailWorker {
        db: state.db.clone(),
        transport: Transport::from_url(
            settings.mail.url.expose_secret(),
            settings.mail.allow_plaintext_auth,
            settings.mail.concurrency,
        )?,
        templates: state.templates.clone(),
        settings: settings.clone(),
        secrets: state.secrets.clone(),
        from,
        dkim,
        wake: state.mail_wake.clone(),
        domains: crate::mail::domains::DomainTurns::new(settings.mail.per_domain_concurrency),
        settler: crate::mail::settler::Settler::start(
            state.db.clone(),
            settings.clone(),
            crate::mail::settler::Counts {
                attempts: metrics.mail_attempts(),
                batches: metrics.mail_outcome_batches(),
            },
        ),
        relay: crate::mail::relay::Relay::default(),
        relay_up: metrics.mail_relay_up(),
    })
}

/// Runs `task` on the blocking pool every `every` and logs how many items it handled.
async fn periodically<F>(db: Db, every: std::time::Duration, what: &'static str, task: F)
where
    F: Fn(&mut db::DbConn) -> Result<usize, db::StoreError> + Clone + Send + 'static,
{
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match db.run(task.clone()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, what, "maintenance"),
            Err(error) => tracing::warn!(%error, what, "maintenance failed"),
        }
    }
}

/// Streaming batch checks at once per instance, all senders together; more answer 429.
const BATCH_CHECKS: usize = 64;

/// How long an `Idempotency-Key` answer is kept (a day, as payment APIs do): long enough for
/// any retry, short enough that a key naming an address does not outlive its erasure long.
const IDEMPOTENCY_HOURS: i64 = 24;

/// The maintenance tasks of `serve`: expiry of pending requests and of idempotency keys,
/// minimisation of personal data past retention, and signed checkpoints of chain heads
/// that moved.
fn maintenance(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    use crate::clock::now;
    let (db, settings) = (&state.db, &state.settings);
    let secrets = state.secrets.clone();
    vec![
        tokio::spawn(periodically(
            db.clone(),
            settings.flow.expiry_sweep,
            "expired pending requests",
            |conn| crate::flows::pending::expire_due(conn, now(), 500),
        )),
        tokio::spawn(periodically(
            db.clone(),
            settings.flow.expiry_sweep,
            "forgotten idempotency keys older than a day",
            |conn| {
                let day_ago = now() - chrono::Duration::hours(IDEMPOTENCY_HOURS);
                crate::db::idempotency::delete_older_than(conn, day_ago)
            },
        )),
        tokio::spawn(periodically(
            db.clone(),
            settings.audit.retention_sweep,
            "minimised consents past retention",
            |conn| crate::flows::erasure::minimise_expired(conn, now(), 500),
        )),
        tokio::spawn(periodically(
            db.clone(),
            settings.audit.checkpoint_interval,
            "signed chain checkpoints",
            move |conn| crate::audit::stored::sign_moved_heads(conn, &secrets.signing_keys),
        )),
    ]
}

pub struct Application {
    address: std::net::SocketAddr,
    server: Server,
    state: AppState,
    mail_worker: Option<MailWorker>,
    webhook_worker: Option<WebhookWorker>,
    metrics: Arc<Metrics>,
}

impl Application {
    /// Opens and migrates the database, loads secrets, binds `settings.http.bind` and prepares the
    /// server without running it.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let (db, secrets) = {
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let db = db::open(&settings.database_url, settings.pool_size())?;
                let secrets = secrets::load(&db, &settings)?;
                Ok((db, secrets))
            })
            .await??
        };
        Self::with_parts(settings, db, secrets)
    }

    fn with_parts(
        settings: Arc<Settings>,
        db: Db,
        secrets: secrets::Secrets,
    ) -> anyhow::Result<Self> {
        let templates =
            Templates::load(settings.templates_dir.as_deref().map(std::path::Path::new))?;
        let (flow, http) = (&settings.flow, &settings.http);
        let state = AppState {
            checks: CheckQueue::new(db.clone()),
            db,
            caches: Arc::new(Caches::default()),
            settings: settings.clone(),
            secrets: Arc::new(secrets),
            templates: Arc::new(templates),
            mail_wake: Arc::new(tokio::sync::Notify::new()),
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
            scans: Permits::new(http.scans_total, http.scans_per_sender),
            // Batch checks hold no connection while they wait on the client; the total only
            // keeps one instance's memory bounded.
            batch_checks: Permits::new(BATCH_CHECKS, http.batch_checks_per_sender),
            batch_chunks: Arc::new(tokio::sync::Semaphore::new(
                (settings.pool_size() as usize / 2).max(1),
            )),
            limiter: Arc::new(SenderLimiter::new(
                flow.sender_rate_per_second,
                flow.sender_burst,
            )),
            key_gate: Arc::default(),
            sends_checked: Arc::default(),
        };
        let request_metrics = web::Data::new(Metrics::new()?);
        let metrics_handle = request_metrics.clone().into_inner();
        let mail_worker = mail_worker(&state, &request_metrics)?;
        let webhook_worker = WebhookWorker::new(
            state.db.clone(),
            settings.clone(),
            state.webhook_wake.clone(),
        )?;
        let document = web::Data::new(http::openapi::Document::build()?);
        let listener = TcpListener::bind(&settings.http.bind)
            .with_context(|| format!("cannot listen on {}", settings.http.bind))?;
        let address = listener.local_addr()?;
        let data = web::Data::new(state.clone());
        let max_body = settings.http.max_body_bytes;
        let body_rules = http::body::BodyRules {
            max_bytes: max_body,
            timeout: settings.http.body_timeout,
        };
        let connections =
            http::connections::ConnectionCounts::new(settings.http.max_connections_per_ip);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(document.clone())
                .app_data(request_metrics.clone())
                .app_data(web::PayloadConfig::default().limit(max_body))
                .app_data(body_rules)
                .wrap(from_fn(http::body::guard_bodies))
                .wrap(from_fn(http::connections::refuse_over_limit))
                .wrap(from_fn(metrics::observe_requests))
                .configure(|cfg| http::configure(cfg, max_body))
        })
        .on_connect(move |io, data| connections.on_connect(io, data))
        .client_request_timeout(settings.http.header_timeout)
        .listen(listener)?
        .tcp_nodelay(true)
        .shutdown_timeout(30);
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            address,
            server: server.run(),
            state,
            metrics: metrics_handle,
            mail_worker: Some(mail_worker),
            webhook_worker: Some(webhook_worker),
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Where the API answers, for people and tests: an unspecified bind address (0.0.0.0)
    /// is shown as loopback.
    pub fn local_url(&self) -> String {
        let ip = match self.address.ip() {
            ip if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
            ip => ip,
        };
        format!("http://{}", std::net::SocketAddr::new(ip, self.port()))
    }

    /// Stops the server gracefully (what SIGTERM does).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM or `handle().stop()`, with background tasks beside it;
    /// in-flight requests finish before it returns.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let watcher = tokio::spawn(cache::watch_epochs(
            self.state.db.clone(),
            self.state.caches.clone(),
            self.state.settings.http.cache_refresh,
        ));
        let mut tasks = maintenance(&self.state);
        tasks.push(tokio::spawn(crate::reputation::run(
            self.state.db.clone(),
            self.state.settings.flow.standing.clone(),
            self.state.settings.standing.sweep,
            self.state.sends_checked.clone(),
            self.metrics.clone(),
        )));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let owner = crate::jobs::take_back_own_leases(&self.state.db, self.address).await;
        let mut workers = Vec::new();
        if let Some(w) = self.mail_worker.take() {
            workers.push(tokio::spawn(w.run(owner.clone(), stopped.clone())));
        }
        if let Some(w) = self.webhook_worker.take() {
            workers.push(tokio::spawn(w.run(owner, stopped)));
        }
        let result = self.server.await;
        watcher.abort();
        tasks.iter().for_each(|t| t.abort());
        // Let a mail or webhook in flight finish and be recorded, so it is not sent twice.
        let _ = stop.send(true);
        let finished = futures_util::future::join_all(workers);
        if tokio::time::timeout(std::time::Duration::from_secs(30), finished)
            .await
            .is_err()
        {
            tracing::warn!("outbox workers did not stop in time");
        }
        tracing::info!("server stopped");
        result
    }
}
