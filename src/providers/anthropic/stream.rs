//! Anthropic's event stream as OpenAI chunks: a small state machine fed one event at a time,
//! emitting what OpenAI would have sent for the same answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::providers::framing::sse::Event;

use super::mapping::{
    finish_reason, malformed, read_event, redacted_detail, thinking_detail, usage,
};
use crate::completion::Chunk;
use crate::error::Error;
use crate::openai::response::{ChunkWriter, Delta, FunctionDelta, ToolCallDelta};
use crate::providers::anthropic::types::{ContentBlock, EventDelta, NativeUsage, StreamEvent};
use crate::providers::framing::{EventDecoder, Flow};
use crate::transport::Upstream;

pub struct StreamState {
    upstream: Arc<Upstream>,
    writer: ChunkWriter,
    include_usage: bool,
    /// The synthetic tool whose input streams as the answer's text.
    answer_tool: Option<String>,
    /// Content blocks started and not yet stopped, by Anthropic block index.
    /// Keyed by index: an upstream opening thousands of blocks costs a lookup, not a scan.
    open: BTreeMap<u32, Open>,
    /// OpenAI tool-call indexes count tool calls only, where Anthropic's block index counts
    /// every block.
    tool_calls: u32,
    reasoning_details: u32,
    usage: NativeUsage,
    finished: bool,
    stopped: bool,
}

/// What a started content block turns into.
enum Open {
    Text,
    /// A tool call: its OpenAI index, and whether any argument fragment went out (a call with no
    /// arguments streams none, and must still end up with `{}` as a whole answer has).
    Call {
        index: u32,
        sent: bool,
    },
    /// The forced answer tool of `response_format`, streamed as content.
    Answer {
        sent: bool,
    },
    /// Kept whole: the signed `reasoning_details` entry goes out when the block stops.
    Thinking {
        text: String,
        signature: String,
    },
    Redacted(String),
    /// Server tools and newer block kinds: nothing an OpenAI chunk can carry.
    Skipped,
}

impl StreamState {
    pub fn new(
        upstream: Arc<Upstream>,
        served: &str,
        include_usage: bool,
        answer_tool: Option<String>,
    ) -> Self {
        Self {
            upstream,
            writer: ChunkWriter::new(served),
            include_usage,
            answer_tool,
            open: BTreeMap::new(),
            tool_calls: 0,
            reasoning_details: 0,
            usage: NativeUsage::default(),
            finished: false,
            stopped: false,
        }
    }

    fn start(&mut self, index: u32, block: ContentBlock, out: &mut Vec<Chunk>) {
        let open = match block.kind.as_str() {
            "text" => {
                let text = block.text.unwrap_or_default();
                if !text.is_empty() {
                    out.push(self.writer.delta(content(&text)));
                }
                Open::Text
            }
            "tool_use" => {
                let name = block.name.unwrap_or_default();
                if self.answer_tool.as_deref() == Some(name.as_str()) {
                    Open::Answer { sent: false }
                } else {
                    let call = self.tool_calls;
                    self.tool_calls += 1;
                    out.push(self.writer.delta(Delta {
                        tool_calls: vec![ToolCallDelta {
                            index: call,
                            id: Some(block.id.as_deref().unwrap_or_default()),
                            kind: Some("function"),
                            function: FunctionDelta {
                                name: Some(&name),
                                arguments: Some(""),
                            },
                        }],
                        ..Delta::default()
                    }));
                    Open::Call {
                        index: call,
                        sent: false,
                    }
                }
            }
            "thinking" => {
                let text = block.thinking.unwrap_or_default();
                if !text.is_empty() {
                    out.push(self.writer.delta(reasoning(&text)));
                }
                Open::Thinking {
                    text,
                    signature: block.signature.unwrap_or_default(),
                }
            }
            "redacted_thinking" => Open::Redacted(block.data.unwrap_or_default()),
            _ => Open::Skipped,
        };
        self.open.insert(index, open);
    }

    fn delta(&mut self, index: u32, delta: &EventDelta<'_>, out: &mut Vec<Chunk>) {
        let Some(open) = self.open.get_mut(&index) else {
            return;
        };
        let writer = &self.writer;
        match (&*delta.kind, open) {
            ("text_delta", Open::Text) if !delta.text.is_empty() => {
                out.push(writer.delta(content(&delta.text)));
            }
            ("input_json_delta", Open::Call { index, sent }) if !delta.partial_json.is_empty() => {
                *sent = true;
                out.push(writer.delta(Delta {
                    tool_calls: vec![ToolCallDelta {
                        index: *index,
                        id: None,
                        kind: None,
                        function: FunctionDelta {
                            name: None,
                            arguments: Some(&delta.partial_json),
                        },
                    }],
                    ..Delta::default()
                }));
            }
            ("input_json_delta", Open::Answer { sent }) if !delta.partial_json.is_empty() => {
                *sent = true;
                out.push(writer.delta(content(&delta.partial_json)));
            }
            ("thinking_delta", Open::Thinking { text, .. }) if !delta.thinking.is_empty() => {
                text.push_str(&delta.thinking);
                out.push(writer.delta(reasoning(&delta.thinking)));
            }
            ("signature_delta", Open::Thinking { signature, .. }) => {
                (*delta.signature).clone_into(signature);
            }
            // Citations and delta kinds newer than this code.
            _ => {}
        }
    }

    fn stop(&mut self, index: u32, out: &mut Vec<Chunk>) {
        let Some(open) = self.open.remove(&index) else {
            return;
        };
        let detail = match open {
            Open::Thinking { text, signature } => {
                thinking_detail(text, signature, self.reasoning_details)
            }
            Open::Redacted(data) => redacted_detail(data, self.reasoning_details),
            Open::Call { index, sent: false } => {
                out.push(self.writer.delta(Delta {
                    tool_calls: vec![ToolCallDelta {
                        index,
                        id: None,
                        kind: None,
                        function: FunctionDelta {
                            name: None,
                            arguments: Some(EMPTY_ARGUMENTS),
                        },
                    }],
                    ..Delta::default()
                }));
                return;
            }
            Open::Answer { sent: false } => {
                out.push(self.writer.delta(content(EMPTY_ARGUMENTS)));
                return;
            }
            _ => return,
        };
        self.reasoning_details += 1;
        out.push(self.writer.delta(Delta {
            reasoning_details: vec![detail],
            ..Delta::default()
        }));
    }

    /// One finish chunk per stream, from `message_delta` or, failing that, `message_stop`.
    fn finish(&mut self, stop_reason: Option<&str>, out: &mut Vec<Chunk>) {
        if self.finished {
            return;
        }
        self.finished = true;
        out.push(
            self.writer
                .finish(finish_reason(stop_reason, self.tool_calls > 0)),
        );
    }
}

impl EventDecoder for StreamState {
    fn map(&mut self, event: &Event, out: &mut Vec<Chunk>) -> Result<Flow, Error> {
        let Some(data) = event
            .data
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        else {
            return Ok(Flow::Continue);
        };
        let parsed = read_event(
            &self.upstream,
            event.event.as_deref(),
            data,
            |parsed: StreamEvent<'_>| match parsed.kind.as_ref() {
                "error" => Err(parsed.error.map(|error| error.kind).unwrap_or_default()),
                _ => Ok(parsed),
            },
        )?;
        let index = parsed.index.unwrap_or(0);
        match &*parsed.kind {
            "message_start" => {
                let mut role = self.writer.role();
                if let Some(message) = parsed.message {
                    self.usage.merge(message.usage);
                    role.model = message.model.map(String::into_boxed_str);
                }
                out.push(role);
            }
            "content_block_start" => {
                if let Some(block) = parsed.content_block {
                    self.start(index, block, out);
                }
            }
            "content_block_delta" => {
                if let Some(delta) = parsed.delta {
                    self.delta(index, &delta, out);
                }
            }
            "content_block_stop" => self.stop(index, out),
            "message_delta" => {
                if let Some(later) = parsed.usage {
                    self.usage.merge(later);
                }
                if let Some(reason) = parsed.delta.and_then(|delta| delta.stop_reason) {
                    self.finish(Some(&reason), out);
                }
            }
            "message_stop" => {
                self.finish(None, out);
                if self.include_usage {
                    out.push(self.writer.usage(usage(&self.usage)));
                }
                self.stopped = true;
                return Ok(Flow::Done);
            }
            // `ping`, and event types newer than this code (Anthropic's versioning policy says
            // to ignore them).
            _ => {}
        }
        Ok(Flow::Continue)
    }

    /// The upstream closed the stream. Only `message_stop` ends an answer: anything else is a
    /// truncation, never a clean finish.
    fn end(&mut self, _: &mut Vec<Chunk>) -> Result<(), Error> {
        if self.stopped {
            return Ok(());
        }
        Err(malformed(
            &self.upstream,
            "the stream ended before the answer was complete (no message_stop)".to_owned(),
        ))
    }
}

/// What a whole answer says for a tool input of `{}`.
const EMPTY_ARGUMENTS: &str = "{}";

fn content(text: &str) -> Delta<'_> {
    Delta {
        content: Some(text),
        ..Delta::default()
    }
}

fn reasoning(text: &str) -> Delta<'_> {
    Delta {
        reasoning_content: Some(text),
        ..Delta::default()
    }
}
