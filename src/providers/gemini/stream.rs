//! Gemini's `streamGenerateContent?alt=sse` -> OpenAI chunks. Each event is a whole
//! `GenerateContentResponse` whose parts are deltas; a function call arrives whole in one event.
//! There is no `[DONE]`: the body ends after the event with a `finishReason`, and an end before
//! one is a truncation.

use std::sync::Arc;

use crate::providers::framing::sse::Event;

use super::response::{self, BLOCKED, Piece};
use super::types::{GenerateContentResponse, UsageMetadata};
use crate::completion::Chunk;
use crate::error::Error;
use crate::openai::response::{ChunkWriter, Delta, FunctionDelta, ToolCallDelta};
use crate::providers::framing::{EventDecoder, Flow};
use crate::transport::Upstream;

pub struct StreamState {
    upstream: Arc<Upstream>,
    writer: ChunkWriter,
    include_usage: bool,
    started: bool,
    /// Tool calls emitted so far: the next one's index.
    calls: u32,
    /// `reasoning_details` entries emitted so far: the next one's index. Each entry needs its
    /// own, as OpenAI clients merge streamed list entries that share an index.
    details: u32,
    finished: bool,
    /// Gemini repeats the running totals on every event; the last one is the answer's.
    usage: Option<UsageMetadata>,
}

impl StreamState {
    pub fn new(upstream: Arc<Upstream>, served: &str, include_usage: bool) -> Self {
        Self {
            upstream,
            writer: ChunkWriter::new(served),
            include_usage,
            started: false,
            calls: 0,
            details: 0,
            finished: false,
            usage: None,
        }
    }

    fn response(
        &mut self,
        response: &GenerateContentResponse,
        data: &str,
        out: &mut Vec<Chunk>,
    ) -> Result<(), Error> {
        if let Some(error) = response.error.as_ref().filter(|e| !e.is_null()) {
            return Err(response::embedded_error(&self.upstream, data, error));
        }
        if !self.started {
            self.started = true;
            let mut role = self.writer.role();
            role.model = response.model_version.as_deref().map(Box::from);
            out.push(role);
        }
        if let Some(usage) = response.usage_metadata {
            self.usage = Some(usage);
        }
        let Some(candidate) = response.candidates.first() else {
            let blocked = response
                .prompt_feedback
                .as_ref()
                .is_some_and(|f| f.block_reason.is_some());
            if blocked {
                self.finish(BLOCKED, out);
            }
            return Ok(());
        };
        let parts = candidate.content.as_ref().map_or(&[][..], |c| &c.parts);
        for part in parts {
            let piece = response::piece(part);
            self.piece(piece, out);
        }
        if candidate.finish_reason.is_some() {
            let reason =
                response::finish_reason(candidate.finish_reason.as_deref(), self.calls > 0);
            self.finish(reason, out);
        }
        Ok(())
    }

    /// One part as one delta; a call goes out whole (index, id, name and all its arguments),
    /// which OpenAI clients assemble like any first fragment.
    fn piece(&mut self, piece: Piece<'_>, out: &mut Vec<Chunk>) {
        let details: Vec<_> = piece
            .detail
            .into_iter()
            .map(|mut detail| {
                detail.index = Some(self.details);
                self.details += 1;
                detail
            })
            .collect();
        let mut delta = Delta {
            content: piece.content,
            reasoning_content: piece.reasoning,
            reasoning_details: details,
            ..Delta::default()
        };
        if let Some(call) = &piece.call {
            delta.tool_calls.push(ToolCallDelta {
                index: self.calls,
                id: Some(&call.id),
                kind: Some("function"),
                function: FunctionDelta {
                    name: Some(call.name),
                    arguments: Some(&call.arguments),
                },
            });
            self.calls += 1;
        }
        let empty = delta.content.is_none()
            && delta.reasoning_content.is_none()
            && delta.tool_calls.is_empty()
            && delta.reasoning_details.is_empty();
        if !empty {
            out.push(self.writer.delta(delta));
        }
    }

    fn finish(&mut self, reason: &'static str, out: &mut Vec<Chunk>) {
        if !self.finished {
            self.finished = true;
            out.push(self.writer.finish(reason));
        }
    }
}

impl EventDecoder for StreamState {
    fn map(&mut self, event: &Event, out: &mut Vec<Chunk>) -> Result<Flow, Error> {
        let Some(data) = event.payload() else {
            return Ok(Flow::Continue);
        };
        // Errors may come wrapped in a one-element array, as on Gemini's other stream form.
        let responses = if data.starts_with('[') {
            serde_json::from_str::<Vec<GenerateContentResponse>>(data)
        } else {
            serde_json::from_str::<GenerateContentResponse>(data).map(|r| vec![r])
        }
        .map_err(|e| Error::UpstreamFailed {
            provider: self.upstream.provider.clone(),
            detail: format!(
                "sent a stream event that is not a Gemini response ({e}): {}",
                self.upstream.quote(data)
            ),
        })?;
        for response in &responses {
            self.response(response, data, out)?;
        }
        Ok(Flow::Continue)
    }

    /// The body ended: clean after a finish (then the usage chunk, if asked for), else cut short.
    fn end(&mut self, out: &mut Vec<Chunk>) -> Result<(), Error> {
        if !self.finished {
            return Err(Error::UpstreamFailed {
                provider: self.upstream.provider.clone(),
                detail: "the stream ended before the answer was complete (no finishReason)".into(),
            });
        }
        if self.include_usage
            && let Some(usage) = &self.usage
        {
            out.push(self.writer.usage(response::usage(usage)));
        }
        Ok(())
    }
}
