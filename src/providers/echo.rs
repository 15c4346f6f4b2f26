//! The built-in offline provider: answers with the last user message, word by word when
//! streaming. Deterministic, free, and always there, for first runs, demos and load tests.

use bytes::Bytes;
use futures_util::stream;

use crate::completion::{Chunk, Completion};
use crate::error::Error;
use crate::openai::message::{Message, Role};
use crate::openai::request::ChatRequest;
use crate::openai::response::{
    CHAT_COMPLETION, CHAT_COMPLETION_CHUNK, ChatCompletion, ChatCompletionChunk, Choice,
    ChunkChoice, Delta, ResponseMessage, Usage, new_completion_id, unix_now,
};

pub fn complete(request: &ChatRequest, served: &str) -> Result<Completion, Error> {
    let messages = request.messages()?;
    let answer = messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(Message::text)
        .unwrap_or_default();
    let usage = Usage::new(
        messages.iter().map(|m| count_words(&m.text())).sum(),
        count_words(&answer),
    );
    let id = new_completion_id();
    let created = unix_now();
    if !request.stream {
        let completion = ChatCompletion {
            id,
            object: CHAT_COMPLETION,
            created,
            model: served.to_owned(),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant",
                    content: Some(answer),
                    refusal: None,
                },
                finish_reason: Some("stop"),
                logprobs: None,
            }],
            usage: Some(usage),
        };
        return serialize(&completion).map(|json| Completion::Whole(Bytes::from(json)));
    }

    let chunk = |delta, finish_reason, usage| ChatCompletionChunk {
        id: &id,
        object: CHAT_COMPLETION_CHUNK,
        created,
        model: served,
        choices: choices(delta, finish_reason, usage),
        usage,
    };
    let role = Delta {
        role: Some("assistant"),
        content: Some(""),
    };
    let mut chunks = vec![Chunk {
        json: serialize(&chunk(role, None, None))?,
        output: false,
    }];
    for word in words(&answer) {
        let delta = Delta {
            role: None,
            content: Some(word),
        };
        chunks.push(Chunk {
            json: serialize(&chunk(delta, None, None))?,
            output: true,
        });
    }
    chunks.push(Chunk {
        json: serialize(&chunk(Delta::default(), Some("stop"), None))?,
        output: true,
    });
    if request.include_usage {
        chunks.push(Chunk {
            json: serialize(&chunk(Delta::default(), None, Some(usage)))?,
            output: false,
        });
    }
    Ok(Completion::Stream(Box::pin(stream::iter(
        chunks.into_iter().map(Ok),
    ))))
}

/// A usage chunk has no choices; every other chunk has the one.
fn choices<'a>(
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
    usage: Option<Usage>,
) -> Vec<ChunkChoice<'a>> {
    if usage.is_some() {
        return Vec::new();
    }
    vec![ChunkChoice {
        index: 0,
        delta,
        finish_reason,
        logprobs: None,
    }]
}

/// Each word with the whitespace after it, so the pieces concatenate back to `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let end = rest[word_end..]
            .find(|c: char| !c.is_whitespace())
            .map_or(rest.len(), |i| word_end + i);
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn serialize<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("echo: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn words_keep_their_whitespace() {
        let pieces: Vec<&str> = super::words("  the quick  brown\nfox ").collect();
        assert_eq!(pieces, ["  ", "the ", "quick  ", "brown\n", "fox "]);
        assert_eq!(super::words("").count(), 0);
    }
}
