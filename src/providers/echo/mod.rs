//! The built-in offline provider: answers with the last user message, word by word when
//! streaming. Deterministic, free, and always there, for first runs, demos and load tests.

use futures_util::stream;

use crate::completion::{Completion, UsageWanted};
use crate::error::Error;
use crate::openai::message::{Message, Role};
use crate::openai::request::ChatRequest;
use crate::openai::response::{ChatCompletion, ChunkWriter, Delta, ResponseMessage, Usage};

pub fn complete(
    request: &ChatRequest,
    wanted: UsageWanted,
    served: &str,
) -> Result<Completion, Error> {
    let messages = request.params()?.messages;
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
    let writer = ChunkWriter::new(served);
    if !request.stream {
        let message = ResponseMessage {
            role: "assistant",
            content: Some(answer),
            ..ResponseMessage::default()
        };
        let completion = ChatCompletion::single(served, message, "stop", usage);
        return completion.whole().map(Completion::Whole);
    }

    let mut chunks = vec![writer.role()];
    for word in words(&answer) {
        chunks.push(writer.delta(Delta {
            content: Some(word),
            ..Delta::default()
        }));
    }
    chunks.push(writer.finish("stop"));
    if wanted.reported() {
        chunks.push(writer.usage(usage));
    }
    Ok(Completion::Stream(Box::pin(stream::iter(
        chunks.into_iter().map(Ok),
    ))))
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

#[cfg(test)]
mod tests {
    #[test]
    fn words_keep_their_whitespace() {
        let pieces: Vec<&str> = super::words("  the quick  brown\nfox ").collect();
        assert_eq!(pieces, ["  ", "the ", "quick  ", "brown\n", "fox "]);
        assert_eq!(super::words("").count(), 0);
    }
}
