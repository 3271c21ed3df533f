//! Settings from lookups and files: defaults, validation, layering and the documented names.

use super::*;

fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_lookup(|name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
}

#[test]
fn defaults_are_the_embedded_setup() {
    let s = settings(&[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.database_url.backend(), crate::db::Backend::Sqlite);
    assert_eq!(s.http.bind, "127.0.0.1:8080");
    assert_eq!(s.http.base_url, "http://127.0.0.1:8080");
    assert!(s.keys.pepper.is_none());
    assert_eq!(s.pool_size(), 8);
}

#[test]
fn bad_values_are_named_in_the_error() {
    let err = settings(&[("database_url", "mysql://x")]).map(|_| ());
    assert!(matches!(err, Err(ConfigError::DatabaseUrl(_))));
    let err = settings(&[("base_url", "ftp://x")])
        .err()
        .map(|e| e.to_string());
    assert!(err.unwrap_or_default().contains("CONSENTRY_BASE_URL"));
    assert!(settings(&[("max_body_bytes", "lots")]).is_err());
    assert!(settings(&[("log_format", "xml")]).is_err());
    for period in [
        "cache_refresh_ms",
        "expiry_sweep_seconds",
        "retention_sweep_seconds",
        "checkpoint_interval_seconds",
    ] {
        assert!(settings(&[(period, "0")]).is_err(), "{period}");
    }
    assert!(settings(&[("webhook_allow_private_targets", "maybe")]).is_err());
}

#[test]
fn base_url_loses_its_trailing_slash() {
    let s = settings(&[("base_url", "https://consent.example.jp/")]);
    assert_eq!(
        s.map(|s| s.http.base_url).ok().as_deref(),
        Some("https://consent.example.jp")
    );
}

#[test]
fn file_rejects_unknown_names() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "databse_url = \"sqlite://x.db\"\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        layers::build(Some(&path), |_| None),
        Err(ConfigError::Unknown(_))
    ));
}

/// Writes `text` as a TOML file and loads it under `env` (flat names, as the environment).
fn from_file(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("consentry.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    layers::build(Some(&path), |name| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
}

fn ok(result: Result<Settings, ConfigError>) -> Settings {
    result.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn environment_overrides_the_file() {
    let file = "bind = \"0.0.0.0:9000\"\nmail_max_attempts = 5\n[webhooks]\nmax_attempts = 2\n";
    let s = ok(from_file(
        file,
        &[("bind", "127.0.0.1:7000"), ("webhook_max_attempts", "4")],
    ));
    assert_eq!(s.http.bind, "127.0.0.1:7000");
    assert_eq!(s.webhooks.max_attempts, 4);
    assert_eq!(
        s.mail.max_attempts, 5,
        "the file still counts where env is silent"
    );
    assert_eq!(s.flow.sender_burst, 1000, "and defaults where both are");
}

#[test]
fn unknown_keys_in_the_file_are_named() {
    let err = from_file("databse_url = \"sqlite://x.db\"\n", &[]).map(|_| ());
    assert!(
        matches!(&err, Err(ConfigError::Unknown(k)) if k == "databse_url"),
        "{err:?}"
    );
    let err = from_file("[mail]\nretries = 3\n", &[]).map(|_| ());
    assert!(
        matches!(&err, Err(ConfigError::Unknown(k)) if k == "mail.retries"),
        "{err:?}"
    );
    let err = from_file("[mail.dkim]\nselectr = \"s\"\n", &[]).err();
    assert!(err
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("mail.dkim.selectr"));
    let err = from_file("[caps]\nsender_burst = 3\n", &[]).map(|_| ());
    assert!(
        matches!(&err, Err(ConfigError::Unknown(k)) if k == "caps"),
        "{err:?}"
    );
}

#[test]
fn flat_and_sectioned_files_read_alike() {
    let flat = "bind = \"0.0.0.0:9000\"
mail_from = \"Shop <a@shop.example>\"
mail_retry_base_ms = 100
cap_mails_per_address_24h = 7
webhook_allow_private_targets = true
retention_sweep_seconds = \"30\"
dkim_selector = \"s1\"
dkim_domain = \"shop.example\"
dkim_key_file = \"/k.pem\"
pepper = \"p\"
";
    let sectioned = "[http]
bind = \"0.0.0.0:9000\"
[mail]
from = \"Shop <a@shop.example>\"
retry_base_ms = 100
[mail.dkim]
selector = \"s1\"
domain = \"shop.example\"
key_file = \"/k.pem\"
[flow]
cap_mails_per_address_24h = 7
[webhooks]
allow_private_targets = true
[audit]
retention_sweep_seconds = \"30\"
[keys]
pepper = \"p\"
";
    for text in [flat, sectioned] {
        let s = ok(from_file(text, &[]));
        assert_eq!(s.http.bind, "0.0.0.0:9000");
        assert_eq!(s.mail.from, "Shop <a@shop.example>");
        assert_eq!(s.mail.retry_base, Duration::from_millis(100));
        assert_eq!(s.flow.cap_mails_per_address, 7);
        assert!(s.webhooks.allow_private_targets);
        assert_eq!(s.audit.retention_sweep, Duration::from_secs(30));
        assert_eq!(
            s.mail.dkim,
            Some(("s1".into(), "shop.example".into(), "/k.pem".into()))
        );
        assert!(s.keys.pepper.is_some());
    }
    let both = from_file("mail_max_attempts = 3\n[mail]\nmax_attempts = 4\n", &[]);
    assert!(matches!(both, Err(ConfigError::Twice(_))));
}

#[test]
fn bad_values_in_the_file_name_the_setting() {
    let err = from_file("[flow]\nconfirm_ttl_hours = \"soon\"\n", &[]).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("CONSENTRY_CONFIRM_TTL_HOURS"), "{text}");
    let err = from_file("dkim_selector = \"s\"\n", &[]).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("CONSENTRY_DKIM_SELECTOR"), "{text}");
    let err = from_file("database_url = \"mysql://x\"\n", &[]).map(|_| ());
    assert!(matches!(err, Err(ConfigError::DatabaseUrl(_))));
}

#[test]
fn every_readme_setting_is_known_and_every_known_one_documented() {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or_default();
    let mut documented: Vec<String> = section
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter_map(|word| word.strip_prefix("CONSENTRY_"))
        .filter(|name| !name.is_empty() && *name != "CONFIG")
        .map(str::to_lowercase)
        .collect();
    documented.sort();
    documented.dedup();
    let mut known: Vec<String> = NAMES.iter().map(|n| n.flat.to_owned()).collect();
    known.sort();
    assert_eq!(documented, known);
}

#[test]
fn every_name_is_accepted_flat_in_a_file_in_its_section_and_from_the_environment() {
    let value = |n: &names::Name| match n.flat {
        "database_url" => "sqlite://other.db",
        "base_url" => "https://consent.example.jp",
        "log_format" => "json",
        f if f.starts_with("dkim_") => "x",
        _ => match n.default {
            "" | "false" => "1",
            other => other,
        },
    };
    let flat: String = NAMES
        .iter()
        .map(|n| format!("{} = \"{}\"\n", n.flat, value(n)))
        .collect();
    let flat = ok(from_file(&flat, &[]));
    // Top-level keys first (TOML puts them before any table), then each section in turn.
    let mut sections: Vec<&str> = vec![""];
    for n in NAMES {
        let section = n.path.rsplit_once('.').map_or("", |(s, _)| s);
        if !sections.contains(&section) {
            sections.push(section);
        }
    }
    let mut sectioned = String::new();
    for section in sections {
        if !section.is_empty() {
            sectioned.push_str(&format!("[{section}]\n"));
        }
        for n in NAMES {
            let (place, key) = n.path.rsplit_once('.').unwrap_or(("", n.path));
            if place == section {
                sectioned.push_str(&format!("{key} = \"{}\"\n", value(n)));
            }
        }
    }
    let sectioned = ok(from_file(&sectioned, &[]));
    let env: Vec<(&str, &str)> = NAMES.iter().map(|n| (n.flat, value(n))).collect();
    let from_env = ok(from_file("", &env));
    for s in [&flat, &sectioned, &from_env] {
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.db_pool_size, Some(1));
        assert!(s.http.trust_forwarded_for && s.webhooks.allow_private_targets);
        assert!(s.mail.dkim.is_some() && s.keys.signing_keys.is_some());
        assert_eq!(s.flow.confirm_ttl, chrono::Duration::hours(168));
    }
}
