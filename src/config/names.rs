//! The one table of setting names: the flat name (the environment's `CONSENTRY_*` suffix and
//! the TOML file's top-level key), where it lives in the sectioned settings, and its default.

/// One setting as the README documents it.
pub struct Name {
    /// Lower-case name without the prefix: `CONSENTRY_{FLAT}` in the environment, and a
    /// top-level key of the TOML file.
    pub flat: &'static str,
    /// Dotted place in [`super::Settings`] and in a sectioned TOML file.
    pub path: &'static str,
    /// Text a missing setting takes; empty means unset for optional settings.
    pub default: &'static str,
}

const fn name(flat: &'static str, path: &'static str, default: &'static str) -> Name {
    Name {
        flat,
        path,
        default,
    }
}

/// Every setting the service reads, with its default. Documented in the README.
pub const NAMES: &[Name] = &[
    name("database_url", "database_url", "sqlite://consentry.db"),
    name("db_pool_size", "db_pool_size", ""),
    name("log", "log", "info"),
    name("log_format", "log_format", "text"),
    name("templates_dir", "templates_dir", ""),
    name("bind", "http.bind", "127.0.0.1:8080"),
    name("base_url", "http.base_url", "http://127.0.0.1:8080"),
    name("workers", "http.workers", ""),
    name("max_body_bytes", "http.max_body_bytes", "65536"),
    name("trust_forwarded_for", "http.trust_forwarded_for", "false"),
    name("header_timeout_ms", "http.header_timeout_ms", "5000"),
    name("body_timeout_ms", "http.body_timeout_ms", "10000"),
    name(
        "max_connections_per_ip",
        "http.max_connections_per_ip",
        "256",
    ),
    name("cache_refresh_ms", "http.cache_refresh_ms", "1000"),
    name("scans_per_sender", "http.scans_per_sender", "2"),
    name("scans_total", "http.scans_total", "8"),
    name(
        "batch_checks_per_sender",
        "http.batch_checks_per_sender",
        "4",
    ),
    name("batch_hold_bytes", "http.batch_hold_bytes", "4194304"),
    name("batch_spool_bytes", "http.batch_spool_bytes", "1073741824"),
    name("max_report_bytes", "http.max_report_bytes", "1048576"),
    name(
        "stream_send_timeout_ms",
        "http.stream_send_timeout_ms",
        "30000",
    ),
    name("stream_max_seconds", "http.stream_max_seconds", "3600"),
    name("pepper", "keys.pepper", ""),
    name("token_keys", "keys.token_keys", ""),
    name("signing_keys", "keys.signing_keys", ""),
    name("mail_url", "mail.url", "file://./var/mail"),
    name("mail_from", "mail.from", "Consentry <no-reply@localhost>"),
    name("mail_max_attempts", "mail.max_attempts", "0"),
    name("mail_retry_for_minutes", "mail.retry_for_minutes", "7200"),
    name("mail_retry_base_ms", "mail.retry_base_ms", "5000"),
    name("mail_retry_max_ms", "mail.retry_max_ms", "3600000"),
    name("mail_concurrency", "mail.concurrency", "8"),
    name(
        "mail_per_domain_concurrency",
        "mail.per_domain_concurrency",
        "2",
    ),
    name("unsubscribe_mailto", "mail.unsubscribe_mailto", ""),
    name(
        "mail_allow_plaintext_auth",
        "mail.allow_plaintext_auth",
        "false",
    ),
    name("dkim_selector", "mail.dkim.selector", ""),
    name("dkim_domain", "mail.dkim.domain", ""),
    name("dkim_key_file", "mail.dkim.key_file", ""),
    name("confirm_ttl_hours", "flow.confirm_ttl_hours", "168"),
    name("resend_window_minutes", "flow.resend_window_minutes", "60"),
    name("expiry_sweep_seconds", "flow.expiry_sweep_seconds", "60"),
    name(
        "cap_mails_per_address_24h",
        "flow.cap_mails_per_address_24h",
        "3",
    ),
    name(
        "cap_signups_per_ip_hour",
        "flow.cap_signups_per_ip_hour",
        "20",
    ),
    name(
        "sender_rate_per_second",
        "flow.sender_rate_per_second",
        "100",
    ),
    name("sender_burst", "flow.sender_burst", "1000"),
    name(
        "retention_sweep_seconds",
        "audit.retention_sweep_seconds",
        "3600",
    ),
    name(
        "checkpoint_interval_seconds",
        "audit.checkpoint_interval_seconds",
        "3600",
    ),
    name("webhook_max_attempts", "webhooks.max_attempts", "12"),
    name("webhook_timeout_ms", "webhooks.timeout_ms", "10000"),
    name(
        "webhook_allow_private_targets",
        "webhooks.allow_private_targets",
        "false",
    ),
    name("webhook_proxy", "webhooks.proxy", ""),
    name("standing_window_days", "standing.window_days", "30"),
    name(
        "standing_probation_caps",
        "standing.probation_caps",
        "200,1000,10000",
    ),
    name(
        "standing_probation_step_days",
        "standing.probation_step_days",
        "3",
    ),
    name(
        "standing_probation_step_mails",
        "standing.probation_step_mails",
        "100",
    ),
    name(
        "standing_probation_step_max_refusal_percent",
        "standing.probation_step_max_refusal_percent",
        "1",
    ),
    name(
        "standing_probation_step_max_complaint_percent",
        "standing.probation_step_max_complaint_percent",
        "0.1",
    ),
    name("standing_min_volume", "standing.min_volume", "200"),
    name(
        "standing_watch_refusal_percent",
        "standing.watch_refusal_percent",
        "2",
    ),
    name(
        "standing_watch_complaint_percent",
        "standing.watch_complaint_percent",
        "0.1",
    ),
    name(
        "standing_restrict_refusal_percent",
        "standing.restrict_refusal_percent",
        "5",
    ),
    name(
        "standing_restrict_complaint_percent",
        "standing.restrict_complaint_percent",
        "0.3",
    ),
    name("standing_surge_factor", "standing.surge_factor", "10"),
    name("standing_surge_floor", "standing.surge_floor", "50"),
    name(
        "standing_network_share_percent",
        "standing.network_share_percent",
        "80",
    ),
    name(
        "standing_network_min_signups",
        "standing.network_min_signups",
        "50",
    ),
    name("standing_sweep_seconds", "standing.sweep_seconds", "60"),
];

/// The flat name of a flat or dotted key, if it names a setting.
pub fn by_key(key: &str) -> Option<&'static Name> {
    NAMES.iter().find(|n| n.flat == key || n.path == key)
}
