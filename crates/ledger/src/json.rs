//! JSON borrowed from the text it was read from, written back as canonical JSON. The
//! offline verifier reads the `data` of millions of events; parsing each into
//! `serde_json::Value` (a map node and a string per member) cost it a third of its time.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::canonical::{write_tree, Canonical, Node, Tree};

/// A JSON value whose strings borrow from the text it was read from where they can.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in input order; written sorted. A repeated name is kept twice, so the bytes
    /// differ from what was hashed and verification fails rather than guessing.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl Tree for Json<'_> {
    fn node(&self) -> Node<'_, Self> {
        match self {
            Json::Null => Node::Null,
            Json::Bool(b) => Node::Bool(*b),
            Json::Number(n) => Node::Number(n),
            Json::String(s) => Node::String(s),
            Json::Array(items) => Node::Array(items),
            Json::Object(members) => Node::Object(
                members
                    .iter()
                    .map(|(name, value)| (&**name, value))
                    .collect(),
            ),
        }
    }
}

impl Canonical for Json<'_> {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_tree(self, out);
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor(PhantomData))
    }
}

/// A string borrowed from the input unless it holds escapes (serde's own `Cow<str>` always
/// copies, even with `#[serde(borrow)]` when inside an `Option`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_str(JsonVisitor(PhantomData))? {
            Json::String(s) => Ok(Str(s)),
            _ => Err(serde::de::Error::custom("expected a string")),
        }
    }
}

struct JsonVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for JsonVisitor<'a> {
    type Value = Json<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        // 'de outlives 'a: the input outlives what is read from it.
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some((Str(name), value)) = map.next_entry::<Str<'a>, Json<'a>>()? {
            members.push((name, value));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonical_json;

    #[test]
    fn borrowed_json_writes_the_same_canonical_bytes_as_a_value() {
        let text = r#"{"z":[1,-2,3.5,"a\"b\u0001ü",null,true],"a":{"y":false,"b":{}},"m":"plain"}"#;
        let borrowed: Json<'_> = serde_json::from_str(text).unwrap_or(Json::Null);
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let mut out = Vec::new();
        borrowed.write_canonical(&mut out);
        assert_eq!(out, canonical_json(&value));
    }

    #[test]
    fn a_repeated_member_is_not_silently_dropped() {
        let borrowed: Json<'_> = serde_json::from_str(r#"{"a":1,"a":1}"#).unwrap_or(Json::Null);
        let mut out = Vec::new();
        borrowed.write_canonical(&mut out);
        assert_eq!(out, br#"{"a":1,"a":1}"#);
    }
}
