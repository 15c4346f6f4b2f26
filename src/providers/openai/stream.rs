//! An OpenAI-format SSE stream -> normalized chunks: the common chunk with only `model`
//! replaced (`raw::splice`), anything untidy rebuilt with one id, object, created and an
//! index on every choice.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::value::RawValue;

use super::response::{embedded_error, number_or_now, string_or};
use super::view;
use crate::completion::Chunk;
use crate::error::Error;
use crate::openai::raw::{RawObject, is_empty_value, json_string, model_name, splice};
use crate::openai::response::{CHAT_COMPLETION_CHUNK, new_completion_id};
use crate::openai::response::{finish_label, tokens};
use crate::providers::framing::sse::Event;
use crate::providers::framing::{EventDecoder, Flow};
use crate::transport::Upstream;

/// Decodes one OpenAI-format SSE stream into normalized chunks.
pub struct StreamState {
    upstream: Arc<Upstream>,
    /// The served key, as a JSON string literal.
    served: String,
    id: Option<String>,
    created: Option<String>,
    /// Which choices have finished: once all that appeared have, an end without `[DONE]` is
    /// still a clean end.
    choices: ChoiceProgress,
    strip_usage: bool,
    /// The upstream's model was reported (on the first chunk that named one).
    model_seen: bool,
}

/// The choice indexes seen in a stream, and which of them reported a finish_reason.
#[derive(Debug, Default)]
pub struct ChoiceProgress {
    // Sets: an upstream numbering every chunk's choice anew costs a lookup each, not a scan
    // (found by fuzzing: quadratic in the stream's length).
    open: BTreeSet<u64>,
    finished: BTreeSet<u64>,
}

impl ChoiceProgress {
    fn see(&mut self, index: u64, finish: bool) {
        if finish {
            self.open.remove(&index);
            self.finished.insert(index);
        } else if !self.finished.contains(&index) {
            self.open.insert(index);
        }
    }

    fn all_finished(&self) -> bool {
        self.open.is_empty() && !self.finished.is_empty()
    }
}

impl StreamState {
    /// The model `raw` names, the first time a chunk names one.
    fn first_model(&mut self, raw: Option<&RawValue>) -> Option<Box<str>> {
        if self.model_seen {
            return None;
        }
        let model = raw.and_then(model_name);
        self.model_seen = model.is_some();
        model
    }

    pub fn new(upstream: Arc<Upstream>, served: &str, strip_usage: bool) -> Self {
        Self {
            upstream,
            served: json_string(served),
            id: None,
            created: None,
            choices: ChoiceProgress::default(),
            strip_usage,
            model_seen: false,
        }
    }

    /// The common chunk, which already carries the stream's id and created time, with only
    /// `model` replaced; `None` leaves it to the general path.
    fn splice(&mut self, data: &str, chunk: &view::ChunkView<'_>) -> Option<Chunk> {
        if chunk.error.is_some_and(|e| !is_empty_value(e))
            || chunk.object.map(RawValue::get) != Some("\"chat.completion.chunk\"")
            // `"usage": null` reads as no usage here, yet must go too; so must a key spelled
            // with escapes (`"\u0075sage"`, found by fuzzing), which the view reads as usage.
            || (self.strip_usage && (data.contains("\"usage\"") || data.contains("\\u")))
        {
            return None;
        }
        let (id, created, model) = (chunk.id?, chunk.created?, chunk.model?);
        let choices = chunk.choices.as_ref()?;
        if choices.iter().any(|choice| choice.index.is_none()) {
            return None;
        }
        let stream_id = self
            .id
            .get_or_insert_with(|| string_or(Some(id), new_completion_id));
        let stream_created = self
            .created
            .get_or_insert_with(|| number_or_now(Some(created)));
        if id.get() != stream_id || created.get() != stream_created {
            return None;
        }
        let json = splice(data, model, &self.served)?;
        let mut output = false;
        let mut finish = None;
        for choice in choices {
            let finished = choice.finished();
            self.choices.see(choice.index.unwrap_or(0), finished);
            output |= finished || choice.delta.as_ref().is_some_and(|d| d.0);
            finish = finish.or_else(|| choice.finish_reason.and_then(|f| finish_label(f.get())));
        }
        let usage = chunk.usage.and_then(tokens);
        Some(Chunk {
            json,
            output,
            usage,
            usage_only: usage.is_some() && choices.is_empty(),
            finish,
            model: self.first_model(Some(model)),
            event: None,
        })
    }
}

impl EventDecoder for StreamState {
    fn map(&mut self, event: &Event, out: &mut Vec<Chunk>) -> Result<Flow, Error> {
        let Some(data) = event.payload() else {
            return Ok(Flow::Continue);
        };
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        if event.event.as_deref() != Some("error")
            && let Some(chunk) = view::read::<view::ChunkView<'_>>(data)
            && let Some(chunk) = self.splice(data, &chunk)
        {
            out.push(chunk);
            return Ok(Flow::Continue);
        }
        let object = RawObject::parse(data).map_err(|_| Error::UpstreamFailed {
            provider: self.upstream.provider.to_string(),
            detail: format!(
                "sent a stream event that is not a JSON object: {}",
                self.upstream.quote(data)
            ),
        })?;
        let is_error = event.event.as_deref() == Some("error")
            || object.get("error").is_some_and(|e| !is_empty_value(e))
            || object.get("object").map(RawValue::get) == Some("\"error\"");
        if is_error {
            return Err(embedded_error(&self.upstream, data));
        }

        let id = self
            .id
            .get_or_insert_with(|| string_or(object.get("id"), new_completion_id));
        let created = self
            .created
            .get_or_insert_with(|| number_or_now(object.get("created")));
        let choices = object.get("choices");
        let (output, finish) =
            choices.map_or((false, None), |c| inspect_choices(c, &mut self.choices));
        // Strict clients accumulate a stream by choice `index`: one the upstream left out is
        // written in (the seed's own ARK example ends with such a chunk).
        let indexed = choices.and_then(|c| with_indexes(c.get()));

        let object_type = "\"chat.completion.chunk\"";
        debug_assert_eq!(object_type, json_string(CHAT_COMPLETION_CHUNK));
        let mut head = [
            ("id", id.as_str()),
            ("object", object_type),
            ("created", created.as_str()),
            ("model", self.served.as_str()),
            ("choices", indexed.as_deref().unwrap_or("[]")),
        ];
        let head = if choices.is_some() && indexed.is_none() {
            &head[..4]
        } else {
            &mut head[..]
        };
        let mut json = String::with_capacity(data.len() + 48);
        let skip: &[&str] = if self.strip_usage { &["usage"] } else { &[] };
        object.write_with_head(head, skip, &mut json);
        let usage = object.get("usage").and_then(tokens);
        let usage_only = usage.is_some() && choices.is_none_or(|c| c.get().trim() == "[]");
        let model = self.first_model(object.get("model"));
        out.push(Chunk {
            json,
            output,
            usage,
            usage_only,
            finish,
            model,
            event: None,
        });
        Ok(Flow::Continue)
    }

    /// The upstream closed the stream without `[DONE]`.
    fn end(&mut self, _: &mut Vec<Chunk>) -> Result<(), Error> {
        if self.choices.all_finished() {
            Ok(())
        } else {
            Err(Error::UpstreamFailed {
                provider: self.upstream.provider.to_string(),
                detail:
                    "the stream ended before the answer was complete (no finish_reason, no [DONE])"
                        .into(),
            })
        }
    }
}

/// (has real output or a finish, the first finish_reason's label) over a raw `choices` array;
/// records each choice's progress.
fn inspect_choices(
    choices: &RawValue,
    progress: &mut ChoiceProgress,
) -> (bool, Option<&'static str>) {
    let Ok(choices) = serde_json::from_str::<Vec<RawObject<'_>>>(choices.get()) else {
        return (false, None);
    };
    let mut output = false;
    let mut finish = None;
    for (position, choice) in choices.iter().enumerate() {
        let finished = choice
            .get("finish_reason")
            .is_some_and(|f| !is_empty_value(f));
        let index = choice
            .get("index")
            .and_then(|i| i.get().parse::<u64>().ok())
            .unwrap_or(position as u64);
        progress.see(index, finished);
        // Any finish is output, even one whose value no label names.
        output |= finished;
        finish = finish.or_else(|| {
            choice
                .get("finish_reason")
                .and_then(|f| finish_label(f.get()))
        });
        let delta = choice
            .get("delta")
            .and_then(|d| RawObject::parse(d.get()).ok());
        output |= delta.is_some_and(|d| {
            d.fields()
                .any(|(key, value)| key != "role" && !is_empty_value(value))
        });
    }
    (output, finish)
}

/// The raw `choices` array with `"index"` written into every choice that has none (its place
/// in the array: 0 for the usual single choice); `None` when every choice has one already.
fn with_indexes(choices: &str) -> Option<String> {
    let parsed = serde_json::from_str::<Vec<RawObject<'_>>>(choices).ok()?;
    if parsed.iter().all(|choice| choice.get("index").is_some()) {
        return None;
    }
    let mut out = String::with_capacity(choices.len() + 12 * parsed.len());
    out.push('[');
    for (position, choice) in parsed.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        match choice.get("index") {
            Some(_) => choice.write_with_head(&[], &[], &mut out),
            None => choice.write_with_head(&[("index", &position.to_string())], &[], &mut out),
        }
    }
    out.push(']');
    Some(out)
}
