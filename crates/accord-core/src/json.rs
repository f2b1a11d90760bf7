//! Reading JSON request bodies (§1.1, §1.5). One parse turns the bytes into a value and
//! refuses, with a message naming the place, what a plain parse would let through although
//! no client can mean it or a database cannot keep it: a property given twice (parsers
//! disagree on which one wins) and the NUL character, which PostgreSQL cannot store in text
//! and SQLite would store, so both databases refuse it here alike.
use crate::{Error, Result};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// The rule a string breaks when it holds U+0000.
pub const NUL_RULE: &str = "must NOT contain the NUL character";

/// Parses a request body: `body must be valid JSON` when it is not JSON, and the §1.5-style
/// message of the first duplicate property or NUL character otherwise.
pub fn parse_body(bytes: &[u8]) -> Result<Value> {
    let refusal = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict {
        loc: Loc::Root,
        refusal: &refusal,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|_| match refusal.into_inner() {
        Some(message) => Error::BadRequest(message),
        None => Error::bad("body must be valid JSON"),
    })
}

/// Where a value sits in the body, rendered only for a message.
enum Loc<'a> {
    Root,
    Key(&'a Loc<'a>, &'a str),
    Index(&'a Loc<'a>, usize),
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Root => f.write_str("body"),
            Loc::Key(parent, key) => write!(f, "{parent}/{key}"),
            Loc::Index(parent, i) => write!(f, "{parent}/{i}"),
        }
    }
}

/// Builds a [`Value`] like serde_json's own visitor, and records the first refusal so that
/// its message survives serde_json's error (which would append a position to it).
struct Strict<'a> {
    loc: Loc<'a>,
    refusal: &'a RefCell<Option<String>>,
}

impl Strict<'_> {
    fn refuse<E: de::Error>(&self, message: String) -> E {
        self.refusal.borrow_mut().get_or_insert(message);
        E::custom("refused")
    }

    fn string<E: de::Error>(&self, s: String) -> Result<Value, E> {
        if s.contains('\0') {
            return Err(self.refuse(format!("{} {NUL_RULE}", self.loc)));
        }
        Ok(Value::String(s))
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.string(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.string(v)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(Strict {
            loc: Loc::Index(&self.loc, items.len()),
            refusal: self.refusal,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key.contains('\0') {
                return Err(self.refuse(format!(
                    "{} must NOT have property names that contain the NUL character",
                    self.loc
                )));
            }
            match out.entry(key) {
                Entry::Occupied(taken) => {
                    return Err(self.refuse(format!(
                        "{} must NOT have duplicate properties: '{}'",
                        self.loc,
                        taken.key()
                    )));
                }
                Entry::Vacant(slot) => {
                    let value = map.next_value_seed(Strict {
                        loc: Loc::Key(&self.loc, slot.key()),
                        refusal: self.refusal,
                    })?;
                    slot.insert(value);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// The compact form of valid JSON text (§3.2 `requestDetails`): the whitespace between
/// tokens goes, strings are written as serde_json writes them, and numbers and literals
/// stay character for character, so `1e-400`, `-0` and thirty-digit integers keep their
/// value and their spelling.
pub fn compact_as_written(raw: &str) -> Result<String> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                let token = raw
                    .get(start..i)
                    .ok_or_else(|| Error::internal("cut JSON string"))?;
                let text: String = serde_json::from_str(token).map_err(Error::internal)?;
                out.push_str(&serde_json::to_string(&text).map_err(Error::internal)?);
            }
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'"') {
                    i += 1;
                }
                out.push_str(&raw[start..i]);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refusal(text: &str) -> String {
        match parse_body(text.as_bytes()) {
            Err(Error::BadRequest(m)) => m,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn parses_like_serde_json() {
        let text =
            r#"{"a": [1, -2, 3.5, true, null, "x"], "b": {"c": "d"}, "e": 18446744073709551615}"#;
        assert_eq!(
            parse_body(text.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert_eq!(refusal("{\"a\": 1,}"), "body must be valid JSON");
        assert_eq!(refusal("{} {}"), "body must be valid JSON");
        assert_eq!(refusal(""), "body must be valid JSON");
    }

    #[test]
    fn duplicate_properties_are_refused_where_they_are() {
        assert_eq!(
            refusal(r#"{"a": 1, "a": 2}"#),
            "body must NOT have duplicate properties: 'a'"
        );
        assert_eq!(
            refusal(r#"{"items": [{}, {"label": "x", "label": "y"}]}"#),
            "body/items/1 must NOT have duplicate properties: 'label'"
        );
        assert!(parse_body(br#"{"a": {"a": 1}}"#).is_ok());
    }

    #[test]
    fn nul_is_refused_where_it_is() {
        assert_eq!(
            refusal(r#"{"notes": "a\u0000b"}"#),
            "body/notes must NOT contain the NUL character"
        );
        assert_eq!(
            refusal(r#"[{"x": ["ok", "\u0000"]}]"#),
            "body/0/x/1 must NOT contain the NUL character"
        );
        assert_eq!(
            refusal(r#"{"d": {"k\u0000": 1}}"#),
            "body/d must NOT have property names that contain the NUL character"
        );
        assert_eq!(
            parse_body(br#"{"a": "\\u0000"}"#).unwrap(),
            json!({"a": "\\u0000"})
        );
    }

    #[test]
    fn compaction_keeps_numbers_as_written() {
        let raw = "{ \"big\" : 123456789012345678901234567890, \"tiny\": 1e-400,\n \"zero\": -0,\
                   \"e\": 1E2, \"s\": \"a \\u00e9 \\\" \\\\ \\/\", \"l\": [ true , null ] }";
        assert_eq!(
            compact_as_written(raw).unwrap(),
            r#"{"big":123456789012345678901234567890,"tiny":1e-400,"zero":-0,"e":1E2,"s":"a é \" \\ /","l":[true,null]}"#
        );
    }
}
