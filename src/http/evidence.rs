//! The claimed evidence of a signup, parsed from its JSON form.

use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::domain::field::{
    one_of, parse_ip, parse_time, FieldError, COLLECTION_METHODS, NOT_A_COLLECTION_METHOD,
};
use crate::flows::signup::ClaimedEvidence;
use crate::views::lists::ListWithTexts;

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBody {
    /// End-user IP the sender saw.
    ip: Option<String>,
    user_agent: Option<String>,
    /// The page with the signup form; stored without query or fragment.
    source_url: Option<String>,
    /// RFC 3339.
    collected_at: Option<String>,
    /// `web_form` (default), `mobile_app`, `api`, `import`, `in_person`, `phone`, `paper`, `other`.
    #[schema(pattern = "^(web_form|mobile_app|api|import|in_person|phone|paper|other)$")]
    collection_method: Option<String>,
    /// A version of the list's consent text; default: the current one.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    consent_text_sha256: Option<String>,
}

/// The form's address without query or fragment: those often carry the visitor's address
/// or tracking ids, and the URL enters the ledger, which outlives any erasure.
fn without_query(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

pub fn parse_evidence(
    body: EvidenceBody,
    list: &ListWithTexts,
) -> Result<ClaimedEvidence, ApiError> {
    let ip = body.ip.map(|ip| parse_ip("evidence.ip", &ip)).transpose()?;
    let user_agent = body
        .user_agent
        .filter(|ua| !ua.is_empty())
        .map(|ua| {
            if ua.chars().count() > 1000 || ua.chars().any(char::is_control) {
                Err(FieldError::new(
                    "evidence.user_agent",
                    "must be at most 1000 characters without control characters",
                ))
            } else {
                Ok(ua)
            }
        })
        .transpose()?;
    let source_url = body
        .source_url
        .map(|u| crate::domain::list::parse_policy_url(&u).map(|u| without_query(&u)))
        .transpose()
        .map_err(|_| FieldError::new("evidence.source_url", "must be an absolute http(s) URL"))?;
    let collected_at = body
        .collected_at
        .map(|t| parse_time("evidence.collected_at", &t))
        .transpose()?;
    let collection_method = one_of(
        "evidence.collection_method",
        body.collection_method.unwrap_or_else(|| "web_form".into()),
        COLLECTION_METHODS,
        NOT_A_COLLECTION_METHOD,
    )?;
    let consent_text_sha256 = match body.consent_text_sha256 {
        None => list.list.consent_text_sha256.clone(),
        Some(sha) if list.texts.iter().any(|t| t.sha256 == sha) => sha,
        Some(_) => return Err(ApiError::UnknownConsentText),
    };
    Ok(ClaimedEvidence {
        ip,
        user_agent,
        source_url,
        collected_at,
        collection_method,
        consent_text_sha256,
    })
}
