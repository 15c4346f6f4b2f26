//! A chat-completions attempt: the request encoded for the target's provider and sent with
//! the call's key, then a whole answer, or a stream held to its commit point.

use futures_util::StreamExt;

use super::attempt::{Attempt, Call};
use super::hold::{Held, hold};
use crate::completion::{Answer, ChunkStream, Completion, Translate, UsageWanted, Whole};
use crate::error::Error;
use crate::openai::request::ChatRequest;

pub struct ChatAttempt<'r> {
    pub request: &'r ChatRequest,
    pub usage: UsageWanted,
}

/// A chat answer ready to send, and the request parameters the serving provider dropped
/// (its `unsupported_params = "drop"`), which the client is told about.
pub struct ChatAnswer {
    pub ready: Ready,
    pub dropped: Vec<String>,
}

/// Whole, or a stream whose first real output is in hand.
pub enum Ready {
    Whole(Whole),
    Stream(Held),
}

impl ChatAnswer {
    /// A provider's answer made ready to send: a whole one as it is, a stream held to its
    /// commit point (every surface's attempt ends here).
    pub(super) async fn of(answer: Answer, call: &Call<'_>) -> Result<Self, Error> {
        let ready = match answer.completion {
            Completion::Whole(whole) => Ready::Whole(whole),
            Completion::Stream(stream) => Ready::Stream(hold(stream, call).await?),
        };
        Ok(Self {
            ready,
            dropped: answer.dropped_params,
        })
    }
}

/// An attempt of a surface that translates (Messages, Responses) toward a target it cannot
/// relay to: `chat` (its request translated) served by the provider's chat codec, and the
/// answer translated back, a whole one by `whole`, a stream through `translator`. `dropped`
/// is what the translation dropped; the provider's own drops follow it.
pub(super) async fn through_chat<T: Translate>(
    call: &Call<'_>,
    chat: &ChatRequest,
    usage: UsageWanted,
    mut dropped: Vec<String>,
    whole: impl FnOnce(&Whole) -> Option<Vec<u8>>,
    translator: T,
) -> Result<ChatAnswer, Error> {
    let answer = call
        .provider
        .complete(
            call.http,
            chat,
            usage,
            &call.target.model,
            &call.target.name,
            call.api_key,
            call.traceparent.as_ref(),
        )
        .await?;
    dropped.extend(answer.dropped_params);
    let ready = match answer.completion {
        Completion::Whole(answer) => {
            let json = whole(&answer).ok_or_else(|| Error::UpstreamFailed {
                provider: call.target.provider.clone(),
                detail: "sent an answer that cannot be read as a chat completion".into(),
            })?;
            Ready::Whole(Whole {
                json: json.into(),
                ..answer
            })
        }
        Completion::Stream(stream) => {
            Ready::Stream(hold(translated(stream, translator), call).await?)
        }
    };
    Ok(ChatAnswer { ready, dropped })
}

/// A chat stream through `translator`: its clean end closed by the translator, a failure
/// passed on as it is (the surface's framing writes it).
fn translated<T: Translate>(mut chunks: ChunkStream, mut translator: T) -> ChunkStream {
    Box::pin(async_stream::stream! {
        let mut out = Vec::new();
        while let Some(item) = chunks.next().await {
            match item {
                Ok(chunk) => {
                    translator.chunk(&chunk, &mut out);
                    for event in out.drain(..) {
                        yield Ok(event);
                    }
                }
                Err(error) => {
                    yield Err(error);
                    return;
                }
            }
        }
        translator.end(&mut out);
        for event in out.drain(..) {
            yield Ok(event);
        }
    })
}

impl Attempt for ChatAttempt<'_> {
    type Output = ChatAnswer;

    async fn run(&self, call: Call<'_>) -> Result<ChatAnswer, Error> {
        let answer = call
            .provider
            .complete(
                call.http,
                self.request,
                self.usage,
                &call.target.model,
                &call.target.name,
                call.api_key,
                call.traceparent.as_ref(),
            )
            .await?;
        ChatAnswer::of(answer, &call).await
    }
}
