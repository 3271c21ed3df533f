//! The one way a closed set of states becomes a type: `text_enum!` declares an enum whose
//! variants are stored, serialised and documented as fixed lowercase text, so the column
//! keeps the text it holds today and needs no data migration.

/// Text that names no variant of a closed set (a stored state or kind unknown to this build).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {text:?}")]
pub struct UnknownText {
    /// What was being read, e.g. "consent status".
    pub what: &'static str,
    /// The text as found.
    pub text: String,
}

/// Declares `pub enum $name { Variant => "text", ... }` with `ALL`, `as_str`, `parse`,
/// `FromStr`, `Display`, serde as the same text, `utoipa` schema (a string enum), and diesel
/// `ToSql`/`FromSql<Text, DB>` for every backend whose `String` does (SQLite, PostgreSQL and
/// the `MultiConnection` backend alike). Unknown text is an error, never a panic.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The text stored and sent for this variant.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant named by `text`, exactly as stored (case-sensitive).
            pub fn parse(text: &str) -> Result<Self, $crate::domain::text_enum::UnknownText> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::domain::text_enum::UnknownText {
                        what: $what,
                        text: text.to_owned(),
                    }),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::text_enum::UnknownText;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text,)+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        $crate::domain::text_enum::stored_as_text!($name, |text| Ok(Self::parse(&text)?));
    };
}

pub(crate) use text_enum;

/// diesel `ToSql`/`FromSql<Text, DB>`, for every backend whose `str` and `String` have them
/// (SQLite, PostgreSQL and the `MultiConnection` backend alike), for a type stored as the text
/// of its `as_str()`; `|text| expr` turns the loaded `String` into the type. The one place the
/// closed sets and the ids meet diesel.
macro_rules! stored_as_text {
    ($name:ident, |$text:ident| $from:expr) => {
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let $text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    DB,
                >>::from_sql(bytes)?;
                $from
            }
        }
    };
}

pub(crate) use stored_as_text;
