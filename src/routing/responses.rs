//! A Responses API attempt: the request relayed to a provider that serves the API itself, then a
//! whole response, or a stream held to its commit point (`response.created` and
//! `response.in_progress` held back with it, so a fallback never shows two).

use super::attempt::{Attempt, Call};
use super::chat::ChatAnswer;
use crate::error::Error;
use crate::openai::responses::ResponsesRequest;

pub struct ResponsesAttempt<'r> {
    pub request: &'r ResponsesRequest,
}

impl Attempt for ResponsesAttempt<'_> {
    type Output = ChatAnswer;

    async fn run(&self, call: Call<'_>) -> Result<ChatAnswer, Error> {
        let answer = call
            .provider
            .responses(
                call.http,
                self.request,
                (&call.target.model, &call.target.name),
                call.api_key,
                call.traceparent.as_ref(),
            )
            .await?;
        ChatAnswer::of(answer, &call).await
    }
}
