//! A JSON object written by hand into one buffer, byte for byte as serde_json writes it.
//!
//! For the answers of the hottest call (`GET /v1/check`): serde_json looks up every byte of
//! every key and string in its escape table, which was 4 % of a check's server time at
//! 1,000,000 subscriptions (`perf`), for strings that are almost all ids, hex, base64 and
//! URLs with nothing to escape. Here a string is tested for anything to escape in one pass
//! the compiler vectorises, copied as it is when there is nothing, and given to serde_json
//! only when there is.

/// An object being written; [`JsonObject::end`] closes it.
pub struct JsonObject<'b> {
    buf: &'b mut Vec<u8>,
    empty: bool,
}

impl<'b> JsonObject<'b> {
    pub fn start(buf: &'b mut Vec<u8>) -> Self {
        buf.push(b'{');
        Self { buf, empty: true }
    }

    /// A member whose value is a string.
    pub fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        string(self.buf, value);
    }

    /// A member whose value is a string or `null`.
    pub fn string_or_null(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(value) => self.string(key, value),
            None => {
                self.key(key);
                self.buf.extend_from_slice(b"null");
            }
        }
    }

    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.buf.extend_from_slice(text);
    }

    /// A member whose value is an object, written by `members`.
    pub fn object(&mut self, key: &str, members: impl FnOnce(&mut JsonObject<'_>)) {
        self.key(key);
        let mut inner = JsonObject::start(self.buf);
        members(&mut inner);
        inner.end();
    }

    pub fn end(self) {
        self.buf.push(b'}');
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
        string(self.buf, key);
        self.buf.push(b':');
    }
}

/// `value` as a JSON string.
fn string(buf: &mut Vec<u8>, value: &str) {
    if nothing_to_escape(value.as_bytes()) {
        buf.push(b'"');
        buf.extend_from_slice(value.as_bytes());
        buf.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(buf, value);
    }
}

/// Whether `bytes` hold no quote, backslash or control character (what JSON escapes), tested
/// without stopping early so that the loop is vectorised.
fn nothing_to_escape(bytes: &[u8]) -> bool {
    !bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn written(members: impl FnOnce(&mut JsonObject<'_>)) -> String {
        let mut buf = Vec::new();
        let mut object = JsonObject::start(&mut buf);
        members(&mut object);
        object.end();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let awkward = "名前 \"quoted\" back\\slash\ttab\u{1}\u{7f}\u{2028}";
        let ours = written(|o| o.string(awkward, awkward));
        let theirs = serde_json::json!({ awkward: awkward }).to_string();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn members_of_every_kind_read_back_as_written() {
        let ours = written(|o| {
            o.string("a", "plain");
            o.string_or_null("b", None);
            o.string_or_null("c", Some("x\"y"));
            o.bool("d", true);
            o.bool("e", false);
            o.object("f", |inner| inner.string("g", "<a\\b>"));
            o.object("h", |_| {});
        });
        let expected = serde_json::json!({
            "a": "plain", "b": null, "c": "x\"y", "d": true, "e": false,
            "f": { "g": "<a\\b>" }, "h": {}
        });
        assert_eq!(ours, expected.to_string());
        let parsed: serde_json::Value = serde_json::from_str(&ours).unwrap();
        assert_eq!(parsed, expected);
    }
}
