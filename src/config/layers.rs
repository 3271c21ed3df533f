//! Where settings come from, lowest first: the defaults of [`NAMES`], the optional TOML file,
//! then the environment (or a test's lookup). Each is a figment provider; figment merges them
//! and deserializes [`Settings`], and its errors become a [`ConfigError`] naming the setting.

use std::path::Path;

use figment::error::Kind;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::names::{self, NAMES};
use super::{values, Settings};
use crate::db::{DatabaseUrl, DatabaseUrlError};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("unknown setting `{0}` in config file")]
    Unknown(String),
    #[error("setting `{0}` is given twice in config file (flat and in its section)")]
    Twice(String),
    #[error("CONSENTRY_DATABASE_URL: {0}")]
    DatabaseUrl(#[from] DatabaseUrlError),
    #[error("CONSENTRY_{name}: {reason}")]
    Invalid { name: String, reason: String },
    #[error("config: {0}")]
    Other(String),
}

/// Merges the layers and reads the settings from them.
pub(super) fn build(
    file: Option<&Path>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let defaults = layer(NAMES.iter().map(|n| (n.path, n.default.to_owned())))?;
    let mut figment = Figment::from(Layer("defaults", defaults));
    if let Some(path) = file {
        figment = figment.merge(Layer("config file", read_file(path)?));
    }
    let outside = layer(NAMES.iter().filter_map(|n| Some((n.path, lookup(n.flat)?))))?;
    let figment = figment.merge(Layer("CONSENTRY_* environment", outside));
    // Checked on its own first so that its error keeps its own type.
    let database_url = figment.find_value("database_url").map_err(config_error)?;
    DatabaseUrl::parse(&values::text(&database_url).map_err(config_error)?)?;
    figment.extract().map_err(config_error)
}

/// A layer of already placed values, as figment wants it.
struct Layer(&'static str, Dict);

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.0)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.1.clone()))
    }
}

fn layer<'a>(values: impl Iterator<Item = (&'a str, String)>) -> Result<Dict, ConfigError> {
    let mut dict = Dict::new();
    for (path, value) in values {
        place(&mut dict, path, Value::from(value))?;
    }
    Ok(dict)
}

/// Puts `value` at the dotted `path`, making sections on the way; a place already taken is
/// an error (a file that sets both `mail_max_attempts` and `[mail] max_attempts`).
fn place(dict: &mut Dict, path: &str, value: Value) -> Result<(), ConfigError> {
    let twice = || ConfigError::Twice(path.to_owned());
    match path.split_once('.') {
        None if dict.contains_key(path) => Err(twice()),
        None => {
            dict.insert(path.to_owned(), value);
            Ok(())
        }
        Some((section, rest)) => match dict
            .entry(section.to_owned())
            .or_insert_with(|| Dict::new().into())
        {
            Value::Dict(_, inner) => place(inner, rest, value),
            _ => Err(twice()),
        },
    }
}

/// Reads the TOML file; a documented flat name (`mail_max_attempts`) moves to its section
/// (`mail.max_attempts`), so the flat and the sectioned forms read alike.
pub(super) fn read_file(path: &Path) -> Result<Dict, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut dict: Dict = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: shown,
        source,
    })?;
    for name in NAMES.iter().filter(|n| n.flat != n.path) {
        if let Some(value) = dict.remove(name.flat) {
            place(&mut dict, name.path, value).map_err(|_| ConfigError::Twice(name.flat.into()))?;
        }
    }
    Ok(dict)
}

fn config_error(error: figment::Error) -> ConfigError {
    let key = error.path.join(".");
    if let Kind::UnknownField(field, _) = &error.kind {
        // figment's path already ends with the unknown key.
        return ConfigError::Unknown(if key.is_empty() { field.clone() } else { key });
    }
    // The DKIM rule is about the section as a whole; it is reported on its first setting.
    let key = if key == "mail.dkim" {
        "dkim_selector"
    } else {
        &key
    };
    match names::by_key(key) {
        Some(name) => ConfigError::Invalid {
            name: name.flat.to_uppercase(),
            reason: error.kind.to_string(),
        },
        None => ConfigError::Other(error.to_string()),
    }
}
