//! Prometheus metrics: request counts and latencies by route pattern and status, and pool
//! state. Routes are recorded by pattern (`/c/{token}`), so no token or address reaches a
//! label or a log line.

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use crate::db::Db;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    write_groups: IntCounter,
    grouped_writes: IntCounter,
    /// Two scrapes at once must not both add the same difference to those two.
    catching_up: Mutex<()>,
    mail: IntCounterVec,
    mail_batches: IntCounter,
    relay_up: IntGauge,
    standing: IntGaugeVec,
    window: IntGaugeVec,
    rates: GaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("consentry".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer a request")
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ]),
            &["method", "route", "status"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )?;
        let mail = IntCounterVec::new(
            Opts::new(
                "mail_attempts_total",
                "Confirmation mail attempts by outcome: sent, failed (tried again later), given_up, obsolete (no longer to be sent)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        let write_groups = IntCounter::new(
            "db_write_groups_total",
            "Shared write transactions committed (group commit, SQLite)",
        )?;
        let grouped_writes = IntCounter::new(
            "db_grouped_writes_total",
            "Writes committed in shared write transactions (their ratio to db_write_groups_total is the mean group size)",
        )?;
        registry.register(Box::new(write_groups.clone()))?;
        registry.register(Box::new(grouped_writes.clone()))?;
        registry.register(Box::new(mail.clone()))?;
        let mail_batches = IntCounter::new(
            "mail_outcome_batches_total",
            "Transactions that recorded mail attempts (their ratio to mail_attempts_total is the mean batch)",
        )?;
        registry.register(Box::new(mail_batches.clone()))?;
        let relay_up = IntGauge::new(
            "mail_relay_up",
            "1 while the mail relay accepts sessions; 0 while it is down and the queue waits for a probe",
        )?;
        relay_up.set(1);
        registry.register(Box::new(relay_up.clone()))?;
        let standing = IntGaugeVec::new(
            Opts::new(
                "sender_standing",
                "1 for each sender's current standing (probation, good, watch, restricted)",
            ),
            &["sender", "standing"],
        )?;
        let window = IntGaugeVec::new(
            Opts::new(
                "sender_window_events",
                "Each sender's counts over the reputation window",
            ),
            &["sender", "count"],
        )?;
        let rates = GaugeVec::new(
            Opts::new(
                "sender_window_rate",
                "Each sender's rates over the reputation window (fractions)",
            ),
            &["sender", "rate"],
        )?;
        registry.register(Box::new(standing.clone()))?;
        registry.register(Box::new(window.clone()))?;
        registry.register(Box::new(rates.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool,
            write_groups,
            grouped_writes,
            catching_up: Mutex::new(()),
            mail,
            mail_batches,
            relay_up,
            standing,
            window,
            rates,
        })
    }

    /// The mail attempt counter, for the mail worker (labels: `outcome`).
    pub fn mail_attempts(&self) -> IntCounterVec {
        self.mail.clone()
    }

    /// The count of transactions that recorded mail attempts, for the mail worker.
    pub fn mail_outcome_batches(&self) -> IntCounter {
        self.mail_batches.clone()
    }

    /// The relay gauge, for the mail worker: 1 up, 0 down.
    pub fn mail_relay_up(&self) -> IntGauge {
        self.relay_up.clone()
    }

    /// Refreshes one sender's reputation gauges (the reputation sweep calls this).
    pub fn set_reputation(&self, view: &crate::views::reputation::Reputation) {
        let sender = view.sender_id.as_str();
        for standing in crate::domain::standing::Standing::ALL {
            let on = i64::from(*standing == view.standing);
            self.standing
                .with_label_values(&[sender, standing.as_str()])
                .set(on);
        }
        for (name, n) in view.counts.named() {
            self.window.with_label_values(&[sender, name]).set(n);
        }
        let r = &view.rates;
        for (name, v) in [
            ("confirmation", r.confirmation),
            ("refusal", r.refusal),
            ("complaint", r.complaint),
            ("unsubscribe", r.unsubscribe),
        ] {
            self.rates.with_label_values(&[sender, name]).set(v);
        }
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// The text exposition, with pool gauges and group commit counts read at scrape time.
    pub fn render(&self, db: &Db) -> Result<String, prometheus::Error> {
        let pool = db.pool();
        let state = pool.state();
        let idle = i64::from(state.idle_connections);
        self.pool.with_label_values(&["idle"]).set(idle);
        self.pool
            .with_label_values(&["in_use"])
            .set(i64::from(state.connections) - idle);
        self.pool
            .with_label_values(&["max"])
            .set(i64::from(pool.max_size()));
        if let Some(committed) = db.write_groups() {
            let _one_at_a_time = self.catching_up.lock().unwrap_or_else(|p| p.into_inner());
            catch_up(&self.write_groups, committed.groups.load(Ordering::Relaxed));
            catch_up(
                &self.grouped_writes,
                committed.writes.load(Ordering::Relaxed),
            );
        }
        let mut out = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Brings a counter up to a total counted elsewhere (it only ever grows).
fn catch_up(counter: &IntCounter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}

/// Middleware: time every request, count it under its route pattern, log one line.
pub async fn observe_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let response = next.call(req).await?;
    let elapsed = started.elapsed();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(response.request().method());
    let status = response.status().as_u16();
    if let Some(metrics) = metrics {
        metrics.observe(method, &route, status, elapsed.as_secs_f64());
    }
    tracing::info!(
        method,
        route,
        status,
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    Ok(response)
}

/// The method as a label: the standard methods by name, anything else (HTTP allows any token
/// as an extension method) as `other`, so a client cannot grow the label set without bound.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}
