//! The built-in offline provider: answers with the last user message, word by word when
//! streaming. Deterministic, free, and always there, for first runs, demos and load tests.

use futures_util::stream;

use crate::completion::{Completion, UsageWanted, Whole};
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

/// Echo's embeddings, for trying the gateway offline: a vector per input, the same for the same
/// text (a hash of it spread over `dimensions` values, 8 unless asked, of unit length), so
/// similarity search over them is repeatable, if meaningless.
pub fn embed(
    request: &crate::openai::embeddings::EmbeddingsRequest,
    served: &str,
) -> Result<Whole, Error> {
    use crate::openai::embeddings::{Input, list};
    let Input::Texts(texts) = &request.input else {
        return Err(Error::invalid(
            "The echo provider embeds text, not token ids.",
            Some("input"),
        ));
    };
    let dimensions = request.dimensions.unwrap_or(8).min(4096) as usize;
    let vectors: Vec<Vec<f64>> = texts
        .iter()
        .map(|text| {
            // FNV-1a, then a xorshift per value: deterministic across runs and machines.
            let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
            let raw: Vec<f64> = (0..dimensions)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
                })
                .collect();
            let norm = raw
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt()
                .max(f64::MIN_POSITIVE);
            raw.iter().map(|v| v / norm).collect()
        })
        .collect();
    let tokens = request.estimated_tokens();
    Ok(Whole {
        json: list(&vectors, request.encoding, served, tokens),
        tokens: Some(crate::completion::Tokens {
            prompt: tokens,
            total: tokens,
            ..crate::completion::Tokens::default()
        }),
        finish: None,
        model: None,
    })
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
