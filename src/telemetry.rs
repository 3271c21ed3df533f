//! Structured logs through tracing, to stderr, as text or JSON lines.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; `filter` is an env-filter string such as `info` or
/// `consentry=debug,actix_server=warn`. Safe to call twice (the second call does nothing).
/// lettre stays at `info` whatever the filter: at `debug` it logs the SMTP conversation,
/// which holds recipients' addresses and the signed links of every confirmation mail.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = match "lettre=info".parse() {
        Ok(quiet_smtp) => filter.add_directive(quiet_smtp),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
