//! Canonical JSON: object members sorted by the bytes of their names at every depth, no
//! whitespace, strings escaped as serde_json escapes them (for the integers, strings,
//! booleans and nulls of ledger events this is RFC 8785). What the ledger hashes and signs.

use serde_json::Value;

/// Writes `value` as canonical JSON (sorted keys, compact).
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_tree(value, &mut out);
    out
}

/// A JSON value that can write its canonical bytes: `serde_json::Value`, the verifier's
/// borrowed [`Json`](crate::json::Json), or bytes already canonical.
pub trait Canonical {
    fn write_canonical(&self, out: &mut Vec<u8>);
}

impl Canonical for Value {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_tree(self, out);
    }
}

/// One node of a JSON tree, as the canonical writer sees it.
pub enum Node<'a, T> {
    Null,
    Bool(bool),
    Number(&'a serde_json::Number),
    String(&'a str),
    Array(&'a [T]),
    /// Members in any order (the writer sorts them); a repeated name is written twice.
    Object(Vec<(&'a str, &'a T)>),
}

/// A JSON tree the canonical writer can walk: the one writer serves every representation,
/// so what is hashed on append and what is hashed on verification cannot drift apart.
pub trait Tree: Sized {
    fn node(&self) -> Node<'_, Self>;
}

impl Tree for Value {
    fn node(&self) -> Node<'_, Self> {
        match self {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n),
            Value::String(s) => Node::String(s),
            Value::Array(items) => Node::Array(items),
            Value::Object(map) => Node::Object(map.iter().map(|(k, v)| (k.as_str(), v)).collect()),
        }
    }
}

/// The canonical writer: members sorted by the bytes of their names (a stable sort, so
/// repeated names stay in input order), no whitespace, strings as [`write_str`] writes them.
pub fn write_tree<T: Tree>(tree: &T, out: &mut Vec<u8>) {
    match tree.node() {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Bool(true) => out.extend_from_slice(b"true"),
        Node::Bool(false) => out.extend_from_slice(b"false"),
        // serde_json prints integers in plain decimal and finite floats as it serialises them.
        Node::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Node::String(s) => write_str(s, out),
        Node::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_tree(item, out);
            }
            out.push(b']');
        }
        Node::Object(mut members) => {
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(name, out);
                out.push(b':');
                write_tree(item, out);
            }
            out.push(b'}');
        }
    }
}

/// Whether a JSON string must escape some byte of `s` (a control character, `"` or `\\`).
/// Eight bytes at a time: this scan ran over every string of every event verified.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Some byte of x is below n (n <= 0x80); exact about whether, not about which.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        if below(x, 0x20)
            || zero_byte(x ^ (ONES * u64::from(b'"')))
            || zero_byte(x ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// A JSON string as canonical JSON escapes it (serde_json's escaping). Most strings (ids,
/// hashes, times) need no escape and are copied as they are.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// A string or `null`.
pub fn write_opt_str(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => write_str(s, out),
        None => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [1, {"z": null, "y": "ü\n\u{1}"}], "c": true}});
        assert_eq!(
            String::from_utf8_lossy(&canonical_json(&v)),
            "{\"a\":{\"c\":true,\"d\":[1,{\"y\":\"ü\\n\\u0001\",\"z\":null}]},\"b\":1}"
        );
    }

    #[test]
    fn the_escape_scan_finds_every_byte_that_needs_escaping() {
        for len in 0..20 {
            for at in 0..len {
                for bad in [0u8, 0x1f, b'"', b'\\', b'\n'] {
                    let mut text = vec![b'a'; len];
                    text[at] = bad;
                    assert!(needs_escape(&text), "{text:?}");
                }
                let mut fine = vec![b'a'; len];
                fine[at] = 0x20;
                assert!(!needs_escape(&fine));
            }
        }
        assert!(!needs_escape("日本語のテキスト、ü and ~".as_bytes()));
        assert!(!needs_escape(&[
            0x7f, 0x80, 0xff, 0x21, 0x5b, 0x5d, 0x23, 0x5d, 0x21
        ]));
    }
}
