//! A Responses API attempt. Toward a provider that serves the API itself (`responses =
//! "native"`) the request is relayed as it came; toward any other it is translated into a chat
//! request (once, when first needed, for each way a target takes reasoning back), served by
//! the chat codecs, and the answer translated back: a whole response object, or the chat
//! stream as the Responses events. Either stream is held to its commit point
//! (`response.created` and `response.in_progress` held back with it, so a fallback never shows
//! two).

use std::sync::OnceLock;

use super::attempt::{Attempt, Call};
use super::chat::{ChatAnswer, through_chat};
use crate::completion::UsageWanted;
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::openai::responses::from_chat::{self, ResponsesStream};
use crate::openai::responses::object::{Echo, Shell};
use crate::openai::responses::{ResponsesRequest, to_chat};

pub struct ResponsesAttempt<'r> {
    pub request: &'r ResponsesRequest,
    /// Who wants the usage of a translated stream, as the admission decided.
    pub usage: UsageWanted,
    /// The request as chat two ways, each made when a target first needs it: with the
    /// reasoning's text dropped, and sent back.
    chat: [OnceLock<Made>; 2],
}

/// The request as chat; or why it cannot be (its message and parameter).
type Made = Result<Translation, (String, Option<String>)>;

struct Translation {
    chat: ChatRequest,
    losses: Vec<String>,
    hints: Vec<String>,
    echo: Echo,
}

impl<'r> ResponsesAttempt<'r> {
    pub fn new(request: &'r ResponsesRequest, usage: UsageWanted) -> Self {
        Self {
            request,
            usage,
            chat: [OnceLock::new(), OnceLock::new()],
        }
    }

    fn chat(&self, reasoning_back: bool) -> Result<&Translation, Error> {
        let refused = |error: Error| match error {
            Error::InvalidRequest { message, param, .. } => (message, param),
            other => (other.to_string(), None),
        };
        self.chat[usize::from(reasoning_back)]
            .get_or_init(|| {
                let translated =
                    to_chat::translate(self.request.body(), reasoning_back).map_err(refused)?;
                let chat = ChatRequest::parse(translated.body.into()).map_err(refused)?;
                Ok(Translation {
                    chat,
                    losses: translated.losses,
                    hints: translated.hints,
                    echo: translated.echo,
                })
            })
            .as_ref()
            .map_err(|(message, param)| Error::invalid(message.clone(), param.as_deref()))
    }

    async fn translated(&self, call: &Call<'_>) -> Result<ChatAnswer, Error> {
        if self.request.previous_response_id {
            return Err(Error::invalid(
                format!(
                    "Provider '{}' ({}) does not serve the Responses API itself, and the gateway keeps no responses: previous_response_id needs a provider that does (responses = \"native\"). Send the whole conversation in 'input' instead.",
                    call.target.provider,
                    call.provider.kind_name()
                ),
                Some("previous_response_id"),
            ));
        }
        let translation = self.chat(call.provider.wants_reasoning_back())?;
        let mut dropped = call.provider.cannot_honour(translation.losses.clone())?;
        dropped.extend(translation.hints.iter().cloned());
        dropped.sort();
        let shell = Shell::new(&call.target.name, &translation.echo);
        through_chat(
            call,
            &translation.chat,
            self.usage,
            dropped,
            |whole| from_chat::response(&whole.json, whole.tokens.as_ref(), &shell),
            ResponsesStream::new(shell.clone()),
        )
        .await
    }
}

impl Attempt for ResponsesAttempt<'_> {
    type Output = ChatAnswer;

    async fn run(&self, call: Call<'_>) -> Result<ChatAnswer, Error> {
        if !call.provider.speaks_responses() {
            return self.translated(&call).await;
        }
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
