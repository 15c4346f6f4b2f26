//! An Anthropic Messages attempt: the request relayed to the target's provider with the call's
//! key, then a whole answer, or a stream held to its commit point (its `message_start` and
//! `ping`s held back with it, so a fallback never shows two `message_start`s).

use axum::http::HeaderMap;

use super::attempt::{Attempt, Call};
use super::chat::{ChatAnswer, Ready};
use super::hold::hold;
use crate::anthropic::request::MessagesRequest;
use crate::completion::Completion;
use crate::error::Error;

pub struct MessagesAttempt<'r> {
    pub request: &'r MessagesRequest,
    /// The client's headers, of which `anthropic-version` and `anthropic-beta` go on.
    pub client: &'r HeaderMap,
}

impl Attempt for MessagesAttempt<'_> {
    type Output = ChatAnswer;

    async fn run(&self, call: Call<'_>) -> Result<ChatAnswer, Error> {
        let answer = call
            .provider
            .messages(
                call.http,
                self.request,
                self.client,
                (&call.target.model, &call.target.name),
                call.api_key,
                call.traceparent.as_ref(),
            )
            .await?;
        let ready = match answer.completion {
            Completion::Whole(whole) => Ready::Whole(whole),
            Completion::Stream(stream) => Ready::Stream(hold(stream, &call).await?),
        };
        Ok(ChatAnswer {
            ready,
            dropped: answer.dropped_params,
        })
    }
}
