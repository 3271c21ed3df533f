//! List set-up: a new list with its first consent text, and changes to a list (a changed
//! text adds a version).

use chrono::NaiveDateTime;

use super::FlowError;
use crate::db::lists::{insert_list, new_list_rows, update_list as store_update, ListRow};
use crate::db::DbConn;
use crate::domain::conflict::Conflict;
use crate::domain::ids::{ListId, SenderId};
use crate::domain::list::{ConsentText, ListSlug, Locale};

pub use crate::db::lists::ListChanges;

/// A list's fields, already parsed.
pub struct NewList {
    pub slug: ListSlug,
    pub name: String,
    pub consent_text: ConsentText,
    pub policy_url: String,
    pub locale: Locale,
}

/// Creates the list; [`Conflict::ListExists`] when the sender has one with this slug.
pub fn create_list(
    conn: &mut DbConn,
    sender_id: &SenderId,
    new: NewList,
    now: NaiveDateTime,
) -> Result<ListRow, FlowError> {
    let (list, first_text) = new_list_rows(
        sender_id,
        new.slug.as_str(),
        new.name,
        &new.consent_text,
        new.policy_url,
        new.locale.as_str(),
        now,
    );
    insert_list(conn, &list, &first_text).map_err(|e| match e {
        e if e.is_unique_violation() => FlowError::Conflict(Conflict::ListExists),
        e => e.into(),
    })?;
    Ok(list)
}

/// Applies the changes; [`Conflict::ConcurrentUpdate`] when another update of the same
/// list won the race.
pub fn update_list(
    conn: &mut DbConn,
    list_id: &ListId,
    changes: ListChanges,
    now: NaiveDateTime,
) -> Result<(), FlowError> {
    store_update(conn, list_id, changes, now).map_err(|e| match e {
        e if e.is_unique_violation() => FlowError::Conflict(Conflict::ConcurrentUpdate),
        e => e.into(),
    })
}
