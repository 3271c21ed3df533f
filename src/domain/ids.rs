//! Typed ids: each table's key is a UUID (v7, so ids sort by creation) stored as TEXT in its
//! canonical lowercase hyphenated form. A newtype per table keeps a sender id from being
//! passed where a consent id belongs; storage and JSON see the same text as before.

/// Text that is not an id in the form this service issues (a canonical lowercase UUID).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {what}")]
pub struct InvalidId {
    /// Which id was expected, e.g. "consent id".
    pub what: &'static str,
}

macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident ($what:literal)) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[serde(transparent)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub struct $name(String);

        // A default id would be a fresh random one, which `Default` does not suggest.
        #[allow(clippy::new_without_default)]
        impl $name {
            /// A fresh id (UUID v7, as every id this service creates).
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// An id from outside (a path segment, a token): only the canonical lowercase
            /// hyphenated UUID form that [`Self::new`] produces, so a lookup by it matches
            /// exactly the rows a lookup by the raw text would.
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                let canonical = raw.len() == 36
                    && !raw.bytes().any(|b| b.is_ascii_uppercase())
                    && uuid::Uuid::try_parse(raw).is_ok();
                if canonical {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(InvalidId { what: $what })
                }
            }

            /// Text this service stored or issued before (a row read as text, the fields of a
            /// chained event): not checked again, as loading a column is not.
            // Not every id is read back from a chained event.
            #[allow(dead_code)]
            pub(crate) fn from_trusted(text: &str) -> Self {
                Self(text.to_owned())
            }

            /// The id of a UUID (as a token carries it).
            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid.to_string())
            }

            /// The UUID the text spells (the nil UUID for text stored in another form, which
            /// then names nothing).
            pub fn to_uuid(&self) -> uuid::Uuid {
                uuid::Uuid::try_parse(&self.0).unwrap_or_default()
            }

            /// The stored text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The stored text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <String as utoipa::PartialSchema>::schema()
            }
        }

        impl utoipa::ToSchema for $name {}

        // Loading trusts storage: rows written before the newtypes keep whatever text they hold.
        $crate::domain::text_enum::stored_as_text!($name, |text| Ok(Self(text)));
    };
}

text_id! {
    /// `senders.id`, and every `sender_id` column.
    SenderId ("sender id")
}

text_id! {
    /// `lists.id`, and every `list_id` column.
    ListId ("list id")
}

text_id! {
    /// `subscriptions.id` (`consents.subscription_id`).
    SubscriptionId ("subscription id")
}

text_id! {
    /// `consents.id`, and every `consent_id` or `current_consent_id` column.
    ConsentId ("consent id")
}

text_id! {
    /// `events.id` (`event_pii.event_id`); a batch check's receipt id is its event's id.
    EventId ("event id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_id_is_a_canonical_uuid_v7_and_parses_back() {
        let id = ConsentId::new();
        let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(uuid.get_version_num(), 7);
        assert_eq!(ConsentId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.to_string(), id.as_str());
        assert_eq!(ConsentId::from_uuid(uuid), id);
        assert_ne!(SenderId::new().into_string(), SenderId::new().into_string());
    }

    #[test]
    fn only_the_form_we_issue_parses() {
        let id = ListId::new().into_string();
        for raw in [
            String::new(),
            "not-a-uuid".into(),
            id.to_uppercase(),
            id.replace('-', ""),
            format!("{{{id}}}"),
            format!("urn:uuid:{id}"),
            format!(" {id}"),
            format!("{id}/"),
        ] {
            assert_eq!(
                ListId::parse(&raw),
                Err(InvalidId { what: "list id" }),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn serde_is_the_bare_text() {
        let id = EventId::new();
        let json = serde_json::to_string(&id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, format!("\"{id}\""));
        let back: EventId = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, id);
        // Storage and JSON carry whatever text an older row holds; only `parse` is strict.
        let old: SubscriptionId =
            serde_json::from_str("\"legacy\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old, "legacy");
    }
}
