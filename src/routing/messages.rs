//! An Anthropic Messages attempt. Toward a target that speaks the Messages API the request is
//! relayed as it came; toward any other it is translated into a chat request (once, when first
//! needed, for each way a target takes reasoning back), served by the chat codecs, and the
//! answer translated back: a whole message, or the chat stream as Anthropic's events. Either
//! stream is held to its commit point (its `message_start` and `ping`s held back with it, so a
//! fallback never shows two).

use std::sync::OnceLock;

use axum::http::HeaderMap;

use super::attempt::{Attempt, Call};
use super::chat::{ChatAnswer, Ready, through_chat};
use crate::anthropic::from_chat::{self, StreamTranslator};
use crate::anthropic::request::MessagesRequest;
use crate::anthropic::to_chat;
use crate::completion::{UsageWanted, Whole};
use crate::error::Error;
use crate::openai::request::ChatRequest;

pub struct MessagesAttempt<'r> {
    pub request: &'r MessagesRequest,
    /// The client's headers, of which `anthropic-version` and `anthropic-beta` go on.
    pub client: &'r HeaderMap,
    /// Who wants the usage of a translated stream, as the admission decided.
    pub usage: UsageWanted,
    /// The request as chat two ways, each made when a target first needs it: with the
    /// reasoning dropped, and sent back.
    chat: [OnceLock<Translation>; 2],
}

/// The request as chat, and what the translation dropped; or why it cannot be.
type Translation = Result<(ChatRequest, Vec<String>), String>;

impl<'r> MessagesAttempt<'r> {
    pub fn new(request: &'r MessagesRequest, client: &'r HeaderMap, usage: UsageWanted) -> Self {
        Self {
            request,
            client,
            usage,
            chat: [OnceLock::new(), OnceLock::new()],
        }
    }

    fn chat(&self, reasoning_back: bool) -> Result<&(ChatRequest, Vec<String>), Error> {
        self.chat[usize::from(reasoning_back)]
            .get_or_init(|| {
                let translated = to_chat::translate(self.request.body(), reasoning_back)
                    .map_err(|e| e.to_string())?;
                let chat = ChatRequest::parse(translated.body.into()).map_err(|e| e.to_string())?;
                Ok((chat, translated.dropped))
            })
            .as_ref()
            .map_err(|message| Error::invalid(message.clone(), None))
    }

    async fn translated(&self, call: &Call<'_>) -> Result<ChatAnswer, Error> {
        let (chat, dropped) = self.chat(call.provider.wants_reasoning_back())?;
        // `cache_control` is a hint a chat target serves on its own: always dropped, never
        // refused (Claude Code sends it on every request). The rest follows the provider's policy.
        let (hints, losses): (Vec<String>, Vec<String>) = dropped
            .iter()
            .cloned()
            .partition(|name| name == "cache_control");
        let mut dropped = call.provider.cannot_honour(losses)?;
        dropped.extend(hints);
        dropped.sort();
        if self.request.counting {
            return Ok(estimated_count(chat, &dropped));
        }
        let served = &call.target.name;
        through_chat(
            call,
            chat,
            self.usage,
            dropped,
            |whole| from_chat::message(&whole.json, whole.tokens.as_ref(), served),
            StreamTranslator::new(served),
        )
        .await
    }
}

/// A count for a target that cannot count: the prompt's size at about four bytes a token (the
/// same estimate the key's limits use for a stream cut before its usage). Claude Code uses the
/// count to decide when to compact a conversation, where an estimate serves.
fn estimated_count(chat: &ChatRequest, dropped: &[String]) -> ChatAnswer {
    let json = format!("{{\"input_tokens\":{}}}", chat.len().div_ceil(4));
    ChatAnswer {
        ready: Ready::Whole(Whole {
            json: json.into(),
            tokens: None,
            finish: None,
            model: None,
        }),
        dropped: dropped.to_vec(),
    }
}

impl Attempt for MessagesAttempt<'_> {
    type Output = ChatAnswer;

    async fn run(&self, call: Call<'_>) -> Result<ChatAnswer, Error> {
        if !call.provider.speaks_messages() {
            return self.translated(&call).await;
        }
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
        ChatAnswer::of(answer, &call).await
    }
}
