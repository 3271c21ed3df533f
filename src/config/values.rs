//! How each kind of setting is read from its text: the `deserialize_with` functions of
//! [`super::Settings`]. A value may come as a TOML string, number or boolean, or as an
//! environment string; each is read as text first, so both sources follow the same rules.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use serde::de::{Deserializer, Error, Visitor};
use serde::Deserialize;

use super::LogFormat;
use crate::db::DatabaseUrl;

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_char<E: Error>(self, v: char) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// Any scalar as its text (a TOML `workers = 4` reads as `"4"`).
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(TextVisitor)
}

/// Blank text means unset.
pub fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(text(d)?).filter(|v| !v.trim().is_empty()))
}

pub fn optional_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(optional_text(d)?.map(SecretString::from))
}

pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    Ok(text(d)?.into())
}

fn parse_number<T: FromStr, E: Error>(value: &str) -> Result<T, E> {
    value
        .trim()
        .parse()
        .map_err(|_| E::custom(format!("`{value}` is not a whole number")))
}

pub fn number<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<T, D::Error> {
    parse_number(&text(d)?)
}

pub fn optional_number<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Option<T>, D::Error> {
    optional_text(d)?.map(|v| parse_number(&v)).transpose()
}

/// Whole numbers separated by commas (`200,1000,10000`); blank is none.
pub fn numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    let text = text(d)?;
    text.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(parse_number)
        .collect()
}

/// A percentage from 0 to 100, fractions allowed (`0.1`).
pub fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let text = text(d)?;
    match text.trim().parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(D::Error::custom(format!(
            "`{text}` is not a percentage from 0 to 100"
        ))),
    }
}

/// A period of a background task: a whole number of at least 1 (a timer cannot tick at 0).
fn period<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match number(d)? {
        0 => Err(D::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}

pub fn period_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    period(d).map(Duration::from_millis)
}

pub fn period_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    period(d).map(Duration::from_secs)
}

pub fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    number(d).map(Duration::from_millis)
}

pub fn hours<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::Duration, D::Error> {
    number(d).map(chrono::Duration::hours)
}

pub fn minutes<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::Duration, D::Error> {
    number(d).map(chrono::Duration::minutes)
}

pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match text(d)?.as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(D::Error::custom(format!("`{other}` is not true or false"))),
    }
}

pub fn log_format<'de, D: Deserializer<'de>>(d: D) -> Result<LogFormat, D::Error> {
    match text(d)?.as_str() {
        "json" => Ok(LogFormat::Json),
        "text" => Ok(LogFormat::Text),
        other => Err(D::Error::custom(format!("`{other}` is not text or json"))),
    }
}

pub fn database_url<'de, D: Deserializer<'de>>(d: D) -> Result<DatabaseUrl, D::Error> {
    DatabaseUrl::parse(&text(d)?).map_err(D::Error::custom)
}

/// An http(s) URL with a host and no query or fragment, kept without its trailing slash.
pub fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = text(d)?;
    let url = url::Url::parse(&raw).map_err(D::Error::custom)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(D::Error::custom("must be an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(D::Error::custom("must not have a query or fragment"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DkimParts {
    #[serde(deserialize_with = "optional_text")]
    selector: Option<String>,
    #[serde(deserialize_with = "optional_text")]
    domain: Option<String>,
    #[serde(deserialize_with = "optional_text")]
    key_file: Option<String>,
}

/// (selector, domain, PEM key file): all three or none.
pub fn dkim<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(String, String, String)>, D::Error> {
    let parts = DkimParts::deserialize(d)?;
    match (parts.selector, parts.domain, parts.key_file) {
        (Some(s), Some(d), Some(k)) => Ok(Some((s, d, k))),
        (None, None, None) => Ok(None),
        _ => Err(D::Error::custom(
            "DKIM needs CONSENTRY_DKIM_SELECTOR, _DOMAIN and _KEY_FILE together",
        )),
    }
}
