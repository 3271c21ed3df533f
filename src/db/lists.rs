//! The `lists` and `consent_texts` tables: what recipients agree to receive, and every
//! wording of the consent text the list ever had (content-addressed by SHA-256).

use crate::domain::ids::{ListId, SenderId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{consent_texts, lists};
use super::{epochs, write_transaction, DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = lists)]
pub struct ListRow {
    pub id: ListId,
    pub sender_id: SenderId,
    pub slug: String,
    pub name: String,
    pub policy_url: String,
    pub locale: String,
    pub consent_text_sha256: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consent_texts)]
pub struct ConsentTextRow {
    pub list_id: ListId,
    pub sha256: String,
    pub version: i64,
    pub body: String,
    pub created_at: NaiveDateTime,
}

/// Inserts a list with its first consent text.
pub fn insert_list(
    conn: &mut DbConn,
    list: &ListRow,
    text: &ConsentTextRow,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        diesel::insert_into(lists::table)
            .values(list)
            .execute(conn)?;
        diesel::insert_into(consent_texts::table)
            .values(text)
            .execute(conn)?;
        epochs::bump(conn, epochs::LISTS)
    })
}

pub fn find_list(
    conn: &mut DbConn,
    sender_id: &SenderId,
    slug: &str,
) -> Result<Option<ListRow>, StoreError> {
    Ok(lists::table
        .filter(lists::sender_id.eq(sender_id))
        .filter(lists::slug.eq(slug))
        .select(ListRow::as_select())
        .load(conn)?
        .into_iter()
        .next())
}

pub fn list_lists(conn: &mut DbConn, sender_id: &SenderId) -> Result<Vec<ListRow>, StoreError> {
    Ok(lists::table
        .filter(lists::sender_id.eq(sender_id))
        .order(lists::slug.asc())
        .select(ListRow::as_select())
        .load(conn)?)
}

/// Every version of a list's consent text, oldest first.
pub fn list_consent_texts(
    conn: &mut DbConn,
    list_id: &ListId,
) -> Result<Vec<ConsentTextRow>, StoreError> {
    Ok(consent_texts::table
        .filter(consent_texts::list_id.eq(list_id))
        .order(consent_texts::version.asc())
        .select(ConsentTextRow::as_select())
        .load(conn)?)
}

/// What a `PUT` changes; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct ListChanges {
    pub name: Option<String>,
    pub policy_url: Option<String>,
    pub locale: Option<String>,
    /// (sha256, body) of the consent text to make current.
    pub consent_text: Option<(String, String)>,
}

/// `None` fields are left out of the UPDATE.
#[derive(AsChangeset)]
#[diesel(table_name = lists)]
struct ListUpdate<'a> {
    name: Option<&'a str>,
    policy_url: Option<&'a str>,
    locale: Option<&'a str>,
    consent_text_sha256: Option<&'a str>,
    updated_at: NaiveDateTime,
}

/// Applies `changes` to the list. A consent text the list never had becomes a new version; a
/// text it had before becomes current again without a new version.
pub fn update_list(
    conn: &mut DbConn,
    list_id: &ListId,
    changes: ListChanges,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        if let Some((sha256, body)) = &changes.consent_text {
            let known = consent_texts::table
                .find((list_id, sha256))
                .count()
                .get_result::<i64>(conn)?
                > 0;
            if !known {
                let latest: Option<i64> = consent_texts::table
                    .filter(consent_texts::list_id.eq(list_id))
                    .select(diesel::dsl::max(consent_texts::version))
                    .first(conn)?;
                diesel::insert_into(consent_texts::table)
                    .values(ConsentTextRow {
                        list_id: list_id.to_owned(),
                        sha256: sha256.clone(),
                        version: latest.unwrap_or(0) + 1,
                        body: body.clone(),
                        created_at: at,
                    })
                    .execute(conn)?;
            }
        }
        diesel::update(lists::table.find(list_id))
            .set(ListUpdate {
                name: changes.name.as_deref(),
                policy_url: changes.policy_url.as_deref(),
                locale: changes.locale.as_deref(),
                consent_text_sha256: changes.consent_text.as_ref().map(|(sha, _)| sha.as_str()),
                updated_at: at,
            })
            .execute(conn)?;
        epochs::bump(conn, epochs::LISTS)
    })
}

/// A list with every version of its consent text: what `GET /v1/lists/{slug}` shows and
/// what the list cache holds.
#[derive(Debug, Clone)]
pub struct ListWithTexts {
    pub list: ListRow,
    pub texts: Vec<ConsentTextRow>,
}

impl ListWithTexts {
    /// The body of the current consent text.
    pub fn current_text(&self) -> Option<&ConsentTextRow> {
        self.texts
            .iter()
            .find(|t| t.sha256 == self.list.consent_text_sha256)
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        let at = crate::clock::now();
        Self {
            list: ListRow {
                id: ListId::new(),
                sender_id: SenderId::new(),
                slug: "l".into(),
                name: "L".into(),
                policy_url: "https://example.jp/p".into(),
                locale: "en".into(),
                consent_text_sha256: String::new(),
                created_at: at,
                updated_at: at,
            },
            texts: Vec::new(),
        }
    }
}

pub fn find_list_with_texts(
    conn: &mut DbConn,
    sender_id: &SenderId,
    slug: &str,
) -> Result<Option<ListWithTexts>, StoreError> {
    let Some(list) = find_list(conn, sender_id, slug)? else {
        return Ok(None);
    };
    let texts = list_consent_texts(conn, &list.id)?;
    Ok(Some(ListWithTexts { list, texts }))
}

/// The rows of a new list and its first consent text (version 1).
pub fn new_list_rows(
    sender_id: &SenderId,
    slug: &str,
    name: String,
    text: &crate::domain::list::ConsentText,
    policy_url: String,
    locale: &str,
    at: NaiveDateTime,
) -> (ListRow, ConsentTextRow) {
    let id = ListId::new();
    let text_row = ConsentTextRow {
        list_id: id.clone(),
        sha256: text.sha256().to_owned(),
        version: 1,
        body: text.body().to_owned(),
        created_at: at,
    };
    let list = ListRow {
        id,
        sender_id: sender_id.to_owned(),
        slug: slug.to_owned(),
        name,
        policy_url,
        locale: locale.to_owned(),
        consent_text_sha256: text.sha256().to_owned(),
        created_at: at,
        updated_at: at,
    };
    (list, text_row)
}

pub fn find_list_by_id(conn: &mut DbConn, id: &ListId) -> Result<Option<ListRow>, StoreError> {
    Ok(lists::table
        .find(id)
        .select(ListRow::as_select())
        .load(conn)?
        .into_iter()
        .next())
}
