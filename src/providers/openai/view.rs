//! The common case of relaying an OpenAI-format answer, in one pass: read the few top-level
//! fields the gateway checks, borrowed from the bytes, and replace only `model`. Anything out of
//! the ordinary (a missing field, a duplicate key, an escaped key, an odd type) fails to parse
//! here and takes the general path, which rebuilds the object.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::openai::raw::is_empty_value;
use crate::openai::response::UsageCounts;

/// The top level of a whole `chat.completion`, its usage read as it goes.
#[derive(Deserialize)]
pub struct AnswerView<'a> {
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub object: Option<&'a RawValue>,
    #[serde(borrow)]
    pub created: Option<&'a RawValue>,
    #[serde(borrow)]
    pub model: Option<&'a RawValue>,
    #[serde(borrow)]
    pub error: Option<&'a RawValue>,
    pub usage: Option<UsageCounts>,
    #[serde(borrow)]
    pub choices: Option<FirstFinish<'a>>,
}

/// What a whole answer's choice says of how it ended.
#[derive(Deserialize)]
pub struct FinishView<'a> {
    #[serde(borrow)]
    pub finish_reason: Option<&'a RawValue>,
}

/// The first choice's `finish_reason`, read without collecting the choices (a whole answer is
/// relayed on every request: no allocation for what only the spans read).
pub struct FirstFinish<'a>(pub Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstFinish<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChoicesVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ChoicesVisitor<'a> {
            type Value = FirstFinish<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<FirstFinish<'a>, S::Error> {
                let first = seq
                    .next_element::<FinishView<'de>>()?
                    .and_then(|choice| choice.finish_reason);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstFinish(first))
            }
        }
        deserializer.deserialize_seq(ChoicesVisitor(std::marker::PhantomData))
    }
}

/// The top level of a `chat.completion.chunk`, with what each choice says.
#[derive(Deserialize)]
pub struct ChunkView<'a> {
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub object: Option<&'a RawValue>,
    #[serde(borrow)]
    pub created: Option<&'a RawValue>,
    #[serde(borrow)]
    pub model: Option<&'a RawValue>,
    #[serde(borrow)]
    pub error: Option<&'a RawValue>,
    #[serde(borrow)]
    pub usage: Option<&'a RawValue>,
    #[serde(borrow)]
    pub choices: Option<Vec<ChoiceView<'a>>>,
}

#[derive(Deserialize)]
pub struct ChoiceView<'a> {
    pub index: Option<u64>,
    #[serde(borrow)]
    pub finish_reason: Option<&'a RawValue>,
    pub delta: Option<HasOutput>,
}

impl ChoiceView<'_> {
    pub fn finished(&self) -> bool {
        self.finish_reason.is_some_and(|f| !is_empty_value(f))
    }
}

/// Whether a delta carries anything but its role: content, a tool call, a refusal, reasoning.
pub struct HasOutput(pub bool);

impl<'de> Deserialize<'de> for HasOutput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DeltaVisitor;
        impl<'de> Visitor<'de> for DeltaVisitor {
            type Value = HasOutput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a delta object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<HasOutput, M::Error> {
                let mut output = false;
                while let Some(key) = map.next_key::<&'de str>()? {
                    let value: &'de RawValue = map.next_value()?;
                    output |= key != "role" && !is_empty_value(value);
                }
                Ok(HasOutput(output))
            }
        }
        deserializer.deserialize_map(DeltaVisitor)
    }
}

/// `json` read as a view when it is a JSON object. serde reads a struct from an array too
/// (`["x","chat.completion.chunk",1,...]` would fill the fields in order), which no answer is.
pub fn read<'a, T: Deserialize<'a>>(json: &'a str) -> Option<T> {
    if !json.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::raw::splice;

    #[test]
    fn a_chunk_is_read_in_one_pass_and_only_model_is_replaced() {
        let json = r#"{"id":"c1","object":"chat.completion.chunk","created":5,"model":"gpt","x":{"model":"keep"},"choices":[{"index":1,"delta":{"role":"assistant","content":""},"finish_reason":null},{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}"#;
        let view: ChunkView<'_> = serde_json::from_str(json).unwrap();
        let choices = view.choices.as_ref().unwrap();
        assert_eq!(choices.len(), 2);
        assert!(
            !choices[0].delta.as_ref().unwrap().0,
            "a role alone is no output"
        );
        assert!(!choices[0].finished());
        assert_eq!(choices[0].index, Some(1));
        assert!(choices[1].delta.as_ref().unwrap().0);
        assert!(choices[1].finished());
        let out = splice(json, view.model.unwrap(), r#""openai/gpt""#).unwrap();
        assert_eq!(
            out,
            json.replacen(r#""model":"gpt""#, r#""model":"openai/gpt""#, 1)
        );
    }

    #[test]
    fn the_unusual_is_left_to_the_general_path() {
        for json in [
            r#"{"model":"a","model":"b"}"#,
            r#"{"choices":[{"delta":{"con\u0074ent":"x"}}]}"#,
            r#"{"choices":{"0":{}}}"#,
            r#"{"choices":[{"index":-1}]}"#,
            r#"[1]"#,
        ] {
            assert!(
                serde_json::from_str::<ChunkView<'_>>(json).is_err(),
                "{json}"
            );
        }
        // A struct in array form, which serde would take: found by fuzzing.
        let array = r#"["x","chat.completion.chunk",1,"m",null,null,[]]"#;
        assert!(read::<ChunkView<'_>>(array).is_none());
        assert!(read::<AnswerView<'_>>(r#"["x","chat.completion",1,"m",null]"#).is_none());
        assert!(read::<ChunkView<'_>>(r#" {"id":"x"}"#).is_some());
    }
}
