//! The recipient pages' state machine: which page a link shows (GET, nothing changes) and
//! what pressing its button does (POST), over the consent's and subscription's states.

use super::links::{self, LinkOutcome, Observed};
use crate::clock;
use crate::db::{write_transaction, DbConn, StoreError};
use crate::domain::ids::ConsentId;
use crate::domain::status::ConsentStatus;
use crate::domain::token::{Action, LinkClaims};
use crate::views::pages::{load_context, PageContext};

/// Which page of a link family to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The form with the button.
    Form,
    /// The action happened (now or before).
    Done,
    Expired,
    Invalid,
}

/// The page to show and what it shows about the consent (`None`: nothing to show).
pub struct Shown {
    pub page: Page,
    pub context: Option<PageContext>,
    /// The action changed something now (so webhooks may have work).
    pub changed: bool,
}

/// The page a GET shows, decided without changing anything.
pub fn page_for_get(action: Action, claims: &LinkClaims, ctx: &PageContext) -> Page {
    let c = &ctx.consent;
    // Refuse and unsubscribe links work from every mail; only confirming needs the latest.
    let nonce_ok = action != Action::Confirm || c.nonce == claims.nonce;
    if !nonce_ok {
        return Page::Invalid;
    }
    match action {
        Action::Confirm => match c.status {
            ConsentStatus::Confirmed => Page::Done,
            ConsentStatus::Pending if c.expires_at > clock::now() => Page::Form,
            _ => Page::Expired,
        },
        Action::Refuse if c.status == ConsentStatus::Refused => Page::Done,
        Action::Refuse => Page::Form,
        Action::Unsubscribe if ctx.subscription_status.is_live() => Page::Form,
        Action::Unsubscribe => Page::Done,
    }
}

/// What a GET of a verified link shows.
pub fn show(conn: &mut DbConn, claims: &LinkClaims) -> Result<Shown, StoreError> {
    let context = load_context(conn, &ConsentId::from_uuid(claims.consent_id))?;
    let page = match &context {
        Some(ctx) => page_for_get(claims.action, claims, ctx),
        None => Page::Invalid,
    };
    Ok(Shown {
        page,
        context,
        changed: false,
    })
}

/// The button was pressed: confirm, refuse or unsubscribe in one write transaction, then
/// what the page shows afterwards.
pub fn act(conn: &mut DbConn, claims: &LinkClaims, seen: &Observed) -> Result<Shown, StoreError> {
    let id = ConsentId::from_uuid(claims.consent_id);
    let nonce = &claims.nonce;
    let now = clock::now();
    let outcome = write_transaction(conn, |conn| match claims.action {
        Action::Confirm => links::confirm(conn, &id, nonce, seen, now),
        Action::Refuse => links::refuse(conn, &id, seen, now),
        Action::Unsubscribe => links::unsubscribe(conn, &id, "one_click", seen, now),
    })?;
    let page = match outcome {
        LinkOutcome::Done | LinkOutcome::Already => Page::Done,
        LinkOutcome::Expired => Page::Expired,
        LinkOutcome::Invalid => Page::Invalid,
    };
    Ok(Shown {
        page,
        context: load_context(conn, &id)?,
        changed: outcome == LinkOutcome::Done,
    })
}
