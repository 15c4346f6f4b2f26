//! What a chat chunk's first choice adds, read straight from the chunk's text for a surface
//! that writes its own events from it (Messages, Responses). Every relayed chunk is read here,
//! so the reading is typed and borrowed: no `serde_json::Value` tree (an ordered map per
//! object, each key hashed) is built for the text deltas that are nearly all of a stream.
//!
//! It reads what a `Value` would give: a field of an unexpected type is as good as absent, a
//! first choice or delta that is not an object has nothing in it, and a key given twice counts
//! its last value (the one case read through a `Value`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A `chat.completion.chunk` as a translating surface reads it.
pub struct ChunkRead<'a> {
    pub id: Option<Cow<'a, str>>,
    /// The first choice's delta; none for a chunk without choices (a usage report).
    pub delta: Option<ChatDelta<'a>>,
}

/// What a chat chunk's first choice adds: each text present only when not empty.
#[derive(Debug, Default)]
pub struct ChatDelta<'a> {
    pub reasoning: Option<Cow<'a, str>>,
    pub content: Option<Cow<'a, str>>,
    pub refusal: Option<Cow<'a, str>>,
    pub tool_calls: Vec<Value>,
    /// Signed reasoning the target wants back on the next turn.
    pub reasoning_details: Vec<Value>,
    /// The choice's `logprobs`, as chat writes them.
    pub logprobs: Option<Value>,
    pub finish_reason: Option<Cow<'a, str>>,
}

/// `json` (a chat chunk) read; none when it is not a JSON object. (serde would read a struct
/// from an array too, its fields in order, where a `Value` has no `choices`.)
pub fn read(json: &str) -> Option<ChunkRead<'_>> {
    if !json.trim_start().starts_with('{') {
        return None;
    }
    let wire = match serde_json::from_str::<WireChunk<'_>>(json) {
        Ok(wire) => wire,
        // Only a repeated key fails the typed reading of valid JSON: a `Value` keeps the last.
        Err(_) => WireChunk::deserialize(serde_json::from_str::<Value>(json).ok()?).ok()?,
    };
    let delta = wire.choices.0.map(|choice| {
        let delta = choice.delta.0;
        ChatDelta {
            // The first name a provider gives it as a string, as `reasoning_text` reads it.
            reasoning: non_empty(delta.reasoning_content.0.or(delta.reasoning.0)),
            content: non_empty(delta.content.0),
            refusal: non_empty(delta.refusal.0),
            tool_calls: delta.tool_calls.0,
            reasoning_details: delta.reasoning_details.0,
            logprobs: choice.logprobs.filter(|l| !l.is_null()),
            finish_reason: choice.finish_reason.0,
        }
    });
    Some(ChunkRead {
        id: wire.id.0,
        delta,
    })
}

fn non_empty(text: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    text.filter(|t| !t.is_empty())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireChunk<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    choices: First<WireChoice<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireChoice<'a> {
    #[serde(borrow)]
    delta: Lenient<WireDelta<'a>>,
    logprobs: Option<Value>,
    #[serde(borrow)]
    finish_reason: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireDelta<'a> {
    #[serde(borrow)]
    content: Text<'a>,
    #[serde(borrow)]
    refusal: Text<'a>,
    #[serde(borrow)]
    reasoning_content: Text<'a>,
    #[serde(borrow)]
    reasoning: Text<'a>,
    tool_calls: Array,
    reasoning_details: Array,
}

/// A string, borrowed when it has no escapes; anything else is none.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Option<Cow<'de, str>>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(Some(Cow::Owned(text)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Self::Value, S::Error> {
                IgnoredAny.visit_seq(seq).map(|_| None)
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                IgnoredAny.visit_map(map).map(|_| None)
            }
        }
        deserializer.deserialize_any(TextVisitor).map(Text)
    }
}

/// An array's values; anything else is none.
#[derive(Default)]
struct Array(Vec<Value>);

impl<'de> Deserialize<'de> for Array {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Array(match Value::deserialize(deserializer)? {
            Value::Array(values) => values,
            _ => Vec::new(),
        }))
    }
}

/// An object read as `T`; anything else is `T`'s default (nothing in it).
#[derive(Default)]
struct Lenient<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ObjectOr(PhantomData))
            .map(Lenient)
    }
}

/// An array's first element read as a lenient `T`, the rest skipped; none for an empty array
/// or anything but an array.
struct First<T>(Option<T>);

impl<T> Default for First<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for FirstVisitor<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<First<T>, S::Error> {
                let first = seq.next_element::<Lenient<T>>()?.map(|first| first.0);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<First<T>, M::Error> {
                IgnoredAny.visit_map(map).map(|_| First(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<First<T>, E> {
                Ok(First(None))
            }
            fn visit_unit<E>(self) -> Result<First<T>, E> {
                Ok(First(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<First<T>, E> {
                Ok(First(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<First<T>, E> {
                Ok(First(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<First<T>, E> {
                Ok(First(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<First<T>, E> {
                Ok(First(None))
            }
        }
        deserializer.deserialize_any(FirstVisitor(PhantomData))
    }
}

/// Reads an object as `T`, and anything else as `T::default()`.
struct ObjectOr<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for ObjectOr<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<T, M::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<T, S::Error> {
        IgnoredAny.visit_seq(seq).map(|_| T::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::response::reasoning_text;

    /// What the reading gave before it was typed: the same questions asked of a `Value`.
    fn through_value(json: &str) -> Option<(Option<String>, Option<String>)> {
        let chunk: Value = serde_json::from_str(json).ok()?;
        let choice = chunk.get("choices").and_then(|c| c.get(0));
        let delta = choice.and_then(|c| c.get("delta")).unwrap_or(&Value::Null);
        let text = |key: &str| {
            delta
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Some((text("content"), reasoning_text(delta).map(str::to_owned)))
    }

    #[test]
    fn it_reads_what_a_value_would_give() {
        for json in [
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{"content":"a\"b\u00e9","role":"assistant"}}]}"#,
            r#"{"choices":[{"delta":{"content":7,"reasoning_content":"","reasoning":"r"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"first","reasoning":"second"}}]}"#,
            r#"{"choices":[{"delta":{"content":["x"],"refusal":{"a":1}}}]}"#,
            r#"{"choices":[{"delta":{"content":"first"},"delta":{"content":"last"}}]}"#,
            r#"{"choices":[{"delta":"text"}]}"#,
            r#"{"choices":[[1,2]]}"#,
            r#"{"choices":[]}"#,
            r#"{"choices":{"0":{"delta":{"content":"x"}}}}"#,
            r#"{"usage":{"prompt_tokens":1}}"#,
        ] {
            let chunk = read(json).unwrap_or_else(|| panic!("{json}"));
            let expected = through_value(json).unwrap();
            let delta = chunk.delta.unwrap_or_default();
            let got = (
                delta.content.map(Cow::into_owned),
                delta.reasoning.map(Cow::into_owned),
            );
            assert_eq!(got, expected, "{json}");
        }
    }

    #[test]
    fn choices_and_their_fields() {
        let json = r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":""}}],"reasoning_details":[{"type":"reasoning.text","signature":"s"}]},"logprobs":{"content":[]},"finish_reason":"tool_calls"},{"index":1,"delta":{"content":"second choice"}}]}"#;
        let chunk = read(json).unwrap();
        assert_eq!(chunk.id.as_deref(), Some("chatcmpl-1"));
        let delta = chunk.delta.unwrap();
        assert_eq!(delta.tool_calls.len(), 1);
        assert_eq!(delta.tool_calls[0]["id"], "call_1");
        assert_eq!(delta.reasoning_details[0]["signature"], "s");
        assert!(delta.logprobs.is_some());
        assert_eq!(delta.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(delta.content, None, "only the first choice is read");

        let usage = read_delta(r#"{"id":"x","choices":[],"usage":{}}"#);
        assert!(usage.is_none(), "a usage report has no delta");
        let null = read_delta(r#"{"choices":[{"delta":{},"logprobs":null}]}"#).unwrap();
        assert!(null.logprobs.is_none() && null.tool_calls.is_empty());
        assert!(read("not json").is_none());
        assert!(
            read(r#"["x",[{"delta":{"content":"in array form"}}]]"#).is_none(),
            "a struct in array form is no chunk"
        );
    }

    fn read_delta(json: &str) -> Option<ChatDelta<'_>> {
        read(json).unwrap().delta
    }

    #[test]
    fn text_without_escapes_is_borrowed() {
        let json = r#"{"choices":[{"delta":{"content":"plain","refusal":"esc\naped"}}]}"#;
        let delta = read_delta(json).unwrap();
        assert!(matches!(delta.content, Some(Cow::Borrowed("plain"))));
        assert_eq!(delta.refusal.as_deref(), Some("esc\naped"));
    }
}
