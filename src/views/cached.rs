//! The lists and senders of the request path, read through the in-process caches
//! ([`crate::cache::Caches`]): a miss reads storage on the blocking pool and caches the
//! answer; a record that does not exist is not cached.

use std::sync::Arc;

use super::ViewError;
use crate::cache::{Caches, ListKey};
use crate::db::lists::find_list_with_texts;
use crate::db::senders::find_sender;
use crate::db::Db;
use crate::domain::ids::SenderId;

pub use super::lists::ListWithTexts;
pub use crate::db::senders::Sender;

/// The sender's list with this slug and its consent texts; [`ViewError::NotFound`] when
/// the sender has none.
pub async fn cached_list(
    db: &Db,
    caches: &Caches,
    sender_id: &SenderId,
    slug: &str,
) -> Result<Arc<ListWithTexts>, ViewError> {
    if let Some(list) = caches.lists.get(&ListKey(sender_id, slug)) {
        return Ok(list);
    }
    let key = (sender_id.to_owned(), slug.to_owned());
    let (sender, wanted) = key.clone();
    caches
        .lists
        .get_or_load(key, || async move {
            let found = db
                .run(move |conn| find_list_with_texts(conn, &sender, &wanted))
                .await?;
            found.map(Arc::new).ok_or(ViewError::NotFound)
        })
        .await
}

/// The sender (a sender's identity has no update path while the process runs, so it
/// stays cached); [`ViewError::NotFound`] when there is none.
pub async fn cached_sender(
    db: &Db,
    caches: &Caches,
    sender_id: &SenderId,
) -> Result<Arc<Sender>, ViewError> {
    if let Some(sender) = caches.senders.get(sender_id) {
        return Ok(sender);
    }
    let key = sender_id.to_owned();
    let id = key.clone();
    caches
        .senders
        .get_or_load(key, || async move {
            let found = db.run(move |conn| find_sender(conn, &id)).await?;
            found.map(Arc::new).ok_or(ViewError::NotFound)
        })
        .await
}
