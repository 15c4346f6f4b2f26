//! A whole OpenAI-format answer, tidied: `model` replaced in one pass when the answer is
//! already complete, else rebuilt with an id, object and created time; and the tidying and
//! error reading that answers and stream chunks share.

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde_json::value::RawValue;

use super::view;
use crate::completion::Whole;
use crate::error::Error;
use crate::openai::raw::{RawObject, is_empty_value, json_string, model_name, splice};
use crate::openai::response::{
    CHAT_COMPLETION, UsageCounts, finish_label, new_completion_id, tokens, unix_now,
};
use crate::transport::{self, Upstream};

/// A whole `chat.completion` from upstream, with `model` set to `served`.
pub fn decode(upstream: &Upstream, body: &[u8], served: &str) -> Result<Whole, Error> {
    let text = std::str::from_utf8(body)
        .map_err(|_| malformed(upstream, "a response body that is not UTF-8"))?
        .trim_start();
    if let Some(whole) = relayed(text, served) {
        return Ok(whole);
    }
    let object = RawObject::parse(text)
        .map_err(|_| malformed(upstream, "a response body that is not a JSON object"))?;
    if object.get("error").is_some_and(|e| !is_empty_value(e)) {
        return Err(embedded_error(upstream, text));
    }
    let id = string_or(object.get("id"), new_completion_id);
    let created = number_or_now(object.get("created"));
    let served = json_string(served);
    let object_type = json_string(CHAT_COMPLETION);
    let mut out = String::with_capacity(text.len() + 64);
    object.write_with_head(
        &[
            ("id", &id),
            ("object", &object_type),
            ("created", &created),
            ("model", &served),
        ],
        &[],
        &mut out,
    );
    let finish = object
        .get("choices")
        .and_then(|c| serde_json::from_str::<Vec<view::FinishView<'_>>>(c.get()).ok())
        .and_then(|choices| {
            choices
                .first()?
                .finish_reason
                .and_then(|f| finish_label(f.get()))
        });
    Ok(Whole {
        json: Bytes::from(out),
        tokens: object.get("usage").and_then(tokens),
        finish,
        model: object.get("model").and_then(model_name),
    })
}

fn malformed(upstream: &Upstream, what: &str) -> Error {
    Error::UpstreamFailed {
        provider: upstream.provider.to_string(),
        detail: format!("sent {what}"),
    }
}

/// The common case in one pass: the answer with only `model` replaced, and its usage read
/// (for the key's token count, the metrics and the answer's cost) in the same pass; `None`
/// leaves it to the general path.
fn relayed(text: &str, served: &str) -> Option<Whole> {
    let answer = view::read::<view::AnswerView<'_>>(text)?;
    let json = splice_answer(text, &answer, served)?;
    let finish = answer
        .choices
        .and_then(|choices| choices.0)
        .and_then(|f| finish_label(f.get()));
    Some(Whole {
        json: Bytes::from(json),
        tokens: answer.usage.and_then(UsageCounts::tokens),
        finish,
        model: answer.model.and_then(model_name),
    })
}

/// A whole answer that already has its id, object and created time, with only `model`
/// replaced; `None` leaves it to the general path.
fn splice_answer(text: &str, answer: &view::AnswerView<'_>, served: &str) -> Option<String> {
    let id = answer.id?.get();
    let created = answer.created?.get();
    let usable = answer.error.is_none_or(is_empty_value)
        && answer.object.map(RawValue::get) == Some("\"chat.completion\"")
        && id.starts_with('"')
        && id != "\"\""
        && created != "0"
        && !created.is_empty()
        && created.bytes().all(|b| b.is_ascii_digit());
    if !usable {
        return None;
    }
    splice(text, answer.model?, &json_string(served))
}

/// An error an upstream put inside a 200 body or a stream event.
pub fn embedded_error(upstream: &Upstream, body: &str) -> Error {
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.get("code"))
                .or(v.get("code"))
                .and_then(serde_json::Value::as_u64)
        });
    let status = code
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    transport::status_error(upstream, status, &HeaderMap::new(), body.as_bytes())
}

/// The raw JSON of a non-empty string value, or a fresh one.
pub fn string_or(value: Option<&RawValue>, fresh: fn() -> String) -> String {
    match value.map(RawValue::get) {
        Some(raw) if raw.starts_with('"') && raw != "\"\"" => raw.to_owned(),
        _ => json_string(&fresh()),
    }
}

pub fn number_or_now(value: Option<&RawValue>) -> String {
    match value.map(RawValue::get) {
        // Azure's first stream chunk says `"created":0`: as good as absent.
        Some(raw) if !raw.is_empty() && raw != "0" && raw.bytes().all(|b| b.is_ascii_digit()) => {
            raw.to_owned()
        }
        _ => unix_now().to_string(),
    }
}

/// The top level of an embeddings answer: only what the gateway reads.
#[derive(serde::Deserialize)]
struct EmbeddingsView<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    usage: Option<EmbeddingsUsage>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct EmbeddingsUsage {
    prompt_tokens: Option<u64>,
    total_tokens: Option<u64>,
}

/// An embeddings answer with only `model` replaced by `served` (added when it has none), and
/// its usage read as the tokens the input cost.
pub fn embedded(upstream: &Upstream, body: &[u8], served: &str) -> Result<Whole, Error> {
    let text = std::str::from_utf8(body)
        .map_err(|_| malformed(upstream, "a response body that is not UTF-8"))?;
    let view = view::read::<EmbeddingsView<'_>>(text)
        .ok_or_else(|| malformed(upstream, "an embeddings answer that is not a JSON object"))?;
    if view.error.is_some_and(|e| !is_empty_value(e)) {
        return Err(embedded_error(upstream, text));
    }
    let served_json = json_string(served);
    let json = match view.model {
        Some(model) => splice(text, model, &served_json).ok_or_else(|| {
            malformed(
                upstream,
                "an embeddings answer whose model cannot be replaced",
            )
        })?,
        None => text.to_owned(),
    };
    let tokens = view.usage.map(|usage| {
        let prompt = usage.prompt_tokens.or(usage.total_tokens).unwrap_or(0);
        crate::completion::Tokens {
            prompt,
            total: usage.total_tokens.unwrap_or(prompt),
            ..crate::completion::Tokens::default()
        }
    });
    Ok(Whole {
        json: Bytes::from(json),
        tokens,
        finish: None,
        model: view.model.and_then(model_name),
    })
}
