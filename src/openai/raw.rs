//! A JSON object seen one level deep: its keys in order and each value as the raw bytes it came
//! in. Lets the gateway read or replace a few top-level fields and pass everything else through
//! byte for byte, without building a `serde_json::Value` tree.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

pub struct RawObject<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    pub fn parse(json: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The value of `key`; the last one wins if a key repeats, as in most JSON parsers.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// Writes `{` + `head` (key, raw JSON value pairs) + every field of `self` whose key is not
    /// in `head` nor in `skip`, in their original order + `}`.
    pub fn write_with_head(&self, head: &[(&str, &str)], skip: &[&str], out: &mut String) {
        out.push('{');
        let mut first = true;
        for (key, value) in head {
            push_field(out, &mut first, key, value);
        }
        for (key, value) in self.fields() {
            if !head.iter().any(|(k, _)| *k == key) && !skip.contains(&key) {
                push_field(out, &mut first, key, value.get());
            }
        }
        out.push('}');
    }
}

fn push_field(out: &mut String, first: &mut bool, key: &str, value: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    push_json_string(out, key);
    out.push(':');
    out.push_str(value);
}

/// Appends `text` as a JSON string literal.
pub fn push_json_string(out: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else if let Ok(quoted) = serde_json::to_string(text) {
        out.push_str(&quoted);
    }
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_json_string(&mut out, text);
    out
}

/// True when a raw value is absent in substance: `null`, `""`, `[]` or `{}`.
pub fn is_empty_value(value: &RawValue) -> bool {
    matches!(value.get().trim(), "null" | "\"\"" | "[]" | "{}")
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = RawObject<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(key)) = map.next_key()? {
            let value: &'de RawValue = map.next_value()?;
            fields.push((key, value));
        }
        Ok(RawObject { fields })
    }
}

/// A key borrowed from the input when it has no escapes, owned when it does.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// `json` with the raw value `old` (borrowed from it) replaced by `new`.
pub fn splice(json: &str, old: &RawValue, new: &str) -> Option<String> {
    let start = (old.get().as_ptr() as usize).checked_sub(json.as_ptr() as usize)?;
    let end = start + old.get().len();
    let (before, after) = (json.get(..start)?, json.get(end..)?);
    let mut out = String::with_capacity(json.len() + new.len());
    out.push_str(before);
    out.push_str(new);
    out.push_str(after);
    Some(out)
}

/// The model an answer or a chunk names, as text; none when it names none.
pub fn model_name(raw: &RawValue) -> Option<Box<str>> {
    serde_json::from_str::<&str>(raw.get())
        .map(Box::from)
        .or_else(|_| serde_json::from_str::<String>(raw.get()).map(String::into_boxed_str))
        .ok()
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_raw_bytes() {
        let json = r#"{"b": 1.50, "a\u0041":{"x" : [1,2]}, "model":"m"}"#;
        let object = RawObject::parse(json).unwrap_or_else(|e| unreachable!("{e}"));
        let keys: Vec<_> = object.fields().map(|(k, _)| k.to_owned()).collect();
        assert_eq!(keys, ["b", "aA", "model"]);
        assert_eq!(object.get("b").map(RawValue::get), Some("1.50"));
        let mut out = String::new();
        object.write_with_head(&[("model", "\"p/m\""), ("id", "\"x\"")], &[], &mut out);
        assert_eq!(
            out,
            r#"{"model":"p/m","id":"x","b":1.50,"aA":{"x" : [1,2]}}"#
        );
        let mut out = String::new();
        object.write_with_head(&[], &["b"], &mut out);
        assert_eq!(out, r#"{"aA":{"x" : [1,2]},"model":"m"}"#);
    }

    #[test]
    fn rejects_non_objects() {
        assert!(RawObject::parse("[1]").is_err());
        assert!(RawObject::parse("{\"a\":").is_err());
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(json_string("plain/model"), r#""plain/model""#);
    }
}
