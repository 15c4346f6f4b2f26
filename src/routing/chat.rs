//! A chat-completions attempt: the request encoded for the target's provider and sent with
//! the call's key, then a whole answer, or a stream held to its commit point.

use super::attempt::{Attempt, Call};
use super::hold::{Held, hold};
use crate::completion::{Answer, Completion, UsageWanted, Whole};
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
