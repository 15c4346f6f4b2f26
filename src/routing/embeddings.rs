//! An embeddings attempt: the input embedded by the target's provider, a whole answer.

use super::attempt::{Attempt, Call};
use super::chat::{ChatAnswer, Ready};
use crate::error::Error;
use crate::openai::embeddings::EmbeddingsRequest;

pub struct EmbeddingsAttempt<'r> {
    pub request: &'r EmbeddingsRequest,
}

impl Attempt for EmbeddingsAttempt<'_> {
    type Output = ChatAnswer;

    async fn run(&self, call: Call<'_>) -> Result<ChatAnswer, Error> {
        let whole = call
            .provider
            .embed(
                call.http,
                self.request,
                (&call.target.model, &call.target.name),
                call.api_key,
                call.traceparent.as_ref(),
            )
            .await?;
        Ok(ChatAnswer {
            ready: Ready::Whole(whole),
            dropped: Vec::new(),
        })
    }
}
