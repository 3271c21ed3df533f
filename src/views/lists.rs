//! A sender's lists as the API shows them (one list with its texts comes through
//! [`super::cached::cached_list`]).

use crate::db::{lists, DbConn, StoreError};
use crate::domain::ids::SenderId;

pub use crate::db::lists::{ListRow, ListWithTexts};

/// The sender's lists, by slug.
pub fn lists_of(conn: &mut DbConn, sender_id: &SenderId) -> Result<Vec<ListRow>, StoreError> {
    lists::list_lists(conn, sender_id)
}
