//! OpenAI messages as Anthropic's `system` and alternating turns: content parts as blocks,
//! tool calls and results linked by id, signed reasoning restored where it was.

use serde_json::value::RawValue;

use super::mapping::REASONING_FORMAT;
use super::request::{Settings, cannot};
use crate::error::Error;
use crate::openai::message::{
    Content, FileRef, Message, PartRef, REASONING_ENCRYPTED, REASONING_TEXT, Role as OpenAiRole,
    ToolCall, base64_data_url as data_url,
};
use crate::providers::anthropic::types::{Block, Role, Source, Turn};

const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// System and developer messages hoisted into `system`; the rest as alternating turns.
pub fn conversation<'a>(
    messages: &'a [Message],
    settings: &Settings<'_>,
) -> Result<(Vec<Block<'a>>, Vec<Turn<'a>>), Error> {
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        match message.role {
            OpenAiRole::System | OpenAiRole::Developer => {
                system.extend(system_blocks(message, i)?);
            }
            OpenAiRole::User => push(
                &mut turns,
                Role::User,
                content_blocks(message.content.as_ref(), i, settings)?,
            ),
            OpenAiRole::Assistant => push(
                &mut turns,
                Role::Assistant,
                assistant_blocks(message, i, settings)?,
            ),
            OpenAiRole::Tool => push(
                &mut turns,
                Role::User,
                vec![tool_result(message, i, settings)?],
            ),
            OpenAiRole::Function => {
                return Err(cannot(
                    settings,
                    &format!("messages[{i}].role"),
                    "legacy 'function' messages; send tool messages with a tool_call_id",
                ));
            }
        }
    }
    for turn in &mut turns {
        // Anthropic wants a turn's tool results before anything else in it; the sort is
        // stable, so each group keeps its order.
        turn.content
            .sort_by_key(|block| !matches!(block, Block::ToolResult { .. }));
    }
    trim_prefill(&mut turns);
    if turns.is_empty() {
        return Err(Error::invalid(
            "Anthropic needs at least one user or assistant message with content besides the system messages.",
            Some("messages"),
        ));
    }
    Ok((system, turns))
}

/// Appends `blocks` as a turn of `role`, merged into the last turn when it has the same role
/// (Anthropic wants turns to alternate).
fn push<'a>(turns: &mut Vec<Turn<'a>>, role: Role, blocks: Vec<Block<'a>>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(Turn {
            role,
            content: blocks,
        }),
    }
}

/// A final assistant turn is a prefill the answer continues; Anthropic refuses one that ends
/// in whitespace.
fn trim_prefill(turns: &mut Vec<Turn<'_>>) {
    let Some(last) = turns.last_mut().filter(|turn| turn.role == Role::Assistant) else {
        return;
    };
    if let Some(Block::Text { text }) = last.content.last_mut() {
        *text = text.trim_end();
        if text.is_empty() {
            last.content.pop();
        }
    }
    if last.content.is_empty() {
        turns.pop();
    }
}

fn system_blocks(message: &Message, i: usize) -> Result<Vec<Block<'_>>, Error> {
    let Some(content) = &message.content else {
        return Ok(Vec::new());
    };
    let mut blocks = Vec::new();
    for (j, part) in content.parts().into_iter().enumerate() {
        match part {
            PartRef::Text(text) | PartRef::Refusal(text) => blocks.extend(text_block(text)),
            _ => {
                return Err(Error::invalid(
                    "Anthropic takes only text in system and developer messages.",
                    Some(&part_param(content, i, j)),
                ));
            }
        }
    }
    Ok(blocks)
}

fn content_blocks<'a>(
    content: Option<&'a Content>,
    i: usize,
    settings: &Settings<'_>,
) -> Result<Vec<Block<'a>>, Error> {
    let Some(content) = content else {
        return Ok(Vec::new());
    };
    let parts = content.parts();
    // Sized to the parts: most conversations are many one-part messages, and a grown vector
    // would hold room for four.
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.into_iter().enumerate() {
        let param = || part_param(content, i, j);
        match part {
            PartRef::Text(text) | PartRef::Refusal(text) => blocks.extend(text_block(text)),
            PartRef::Image(image) => blocks.push(image_block(image.url(), &param())?),
            PartRef::File(file) => blocks.push(document_block(file, &param(), settings)?),
            PartRef::Audio(_) => {
                return Err(cannot(
                    settings,
                    &param(),
                    "audio input (input_audio); Anthropic accepts text, images and PDF documents",
                ));
            }
            PartRef::Unknown => {
                return Err(Error::invalid(
                    "Unknown content part type: expected text, image_url, input_audio or file.",
                    Some(&param()),
                ));
            }
        }
    }
    Ok(blocks)
}

fn part_param(content: &Content, i: usize, j: usize) -> String {
    match content {
        Content::Text(_) => format!("messages[{i}].content"),
        Content::Parts(_) => format!("messages[{i}].content[{j}]"),
    }
}

/// Anthropic refuses empty and whitespace-only text blocks; they carry nothing.
fn text_block(text: &str) -> Option<Block<'_>> {
    (!text.trim().is_empty()).then_some(Block::Text { text })
}

fn image_block<'a>(url: &'a str, param: &str) -> Result<Block<'a>, Error> {
    if url.starts_with("data:") {
        let (media_type, data) = base64_data_url(url, param)?;
        let media_type = if media_type.eq_ignore_ascii_case("image/jpg") {
            "image/jpeg"
        } else {
            IMAGE_TYPES
                .into_iter()
                .find(|known| known.eq_ignore_ascii_case(media_type))
                .ok_or_else(|| {
                    Error::invalid(
                        format!("Anthropic takes images of type image/jpeg, image/png, image/gif or image/webp, not {media_type}."),
                        Some(param),
                    )
                })?
        };
        return Ok(Block::Image {
            source: Source::Base64 { media_type, data },
        });
    }
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if scheme.is_some_and(|s| s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http")) {
        return Ok(Block::Image {
            source: Source::Url { url },
        });
    }
    Err(Error::invalid(
        "An image_url must be an http(s) URL or a base64 data URL (data:image/png;base64,...).",
        Some(param),
    ))
}

/// `data:<media type>[;params];base64,<data>` as (media type, data).
fn base64_data_url<'a>(url: &'a str, param: &str) -> Result<(&'a str, &'a str), Error> {
    data_url(url).ok_or_else(|| {
        Error::invalid(
            "A data URL must be base64-encoded: data:<media type>;base64,<data>.",
            Some(param),
        )
    })
}

fn document_block<'a>(
    file: &'a FileRef,
    param: &str,
    settings: &Settings<'_>,
) -> Result<Block<'a>, Error> {
    let Some(data) = file.file_data.as_deref() else {
        if file.file_id.is_some() {
            return Err(cannot(
                settings,
                &format!("{param}.file.file_id"),
                "OpenAI file ids (file_id); send the file's content as file_data",
            ));
        }
        return Err(Error::invalid(
            "A file part needs file_data.",
            Some(&format!("{param}.file")),
        ));
    };
    let (media_type, data) = if data.starts_with("data:") {
        base64_data_url(data, param)?
    } else {
        // OpenAI takes bare base64 here, and only PDFs.
        ("application/pdf", data)
    };
    if media_type.eq_ignore_ascii_case("text/plain") {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                Error::invalid(
                    "A text/plain file must be base64-encoded UTF-8 text.",
                    Some(param),
                )
            })?;
        return Ok(Block::Document {
            source: Source::Text {
                media_type: "text/plain",
                data: text,
            },
            title: file.filename.as_deref(),
        });
    }
    if !media_type.eq_ignore_ascii_case("application/pdf") {
        return Err(cannot(
            settings,
            param,
            &format!("files of type {media_type}; it reads PDF and plain-text documents"),
        ));
    }
    Ok(Block::Document {
        source: Source::Base64 {
            media_type: "application/pdf",
            data,
        },
        title: file.filename.as_deref(),
    })
}

/// Signed reasoning first (Anthropic wants it before text and tool use, unmodified), then the
/// text, then the calls.
fn assistant_blocks<'a>(
    message: &'a Message,
    i: usize,
    settings: &Settings<'_>,
) -> Result<Vec<Block<'a>>, Error> {
    let mut blocks = Vec::new();
    let ours = message
        .reasoning_details
        .iter()
        .filter(|detail| detail.format.as_deref() == Some(REASONING_FORMAT));
    for detail in ours {
        match (
            detail.kind.as_str(),
            &detail.text,
            &detail.signature,
            &detail.data,
        ) {
            (REASONING_TEXT, Some(thinking), Some(signature), _) if !signature.is_empty() => {
                blocks.push(Block::Thinking {
                    thinking,
                    signature,
                });
            }
            (REASONING_ENCRYPTED, _, _, Some(data)) => {
                blocks.push(Block::RedactedThinking { data });
            }
            // Thinking cut off before its signature cannot be verified, so Anthropic would
            // refuse it; it carries no signed state worth restoring.
            _ => {}
        }
    }
    blocks.extend(content_blocks(message.content.as_ref(), i, settings)?);
    if let Some(refusal) = message.refusal.as_deref() {
        blocks.extend(text_block(refusal));
    }
    for (j, call) in message.tool_calls.iter().enumerate() {
        blocks.push(tool_use(call, &format!("messages[{i}].tool_calls[{j}]"))?);
    }
    Ok(blocks)
}

fn tool_use<'a>(call: &'a ToolCall, param: &str) -> Result<Block<'a>, Error> {
    if call.id.is_empty() {
        return Err(Error::invalid(
            "A tool call needs its id.",
            Some(&format!("{param}.id")),
        ));
    }
    let arguments = call.function.arguments.trim();
    let arguments = if arguments.is_empty() {
        "{}"
    } else {
        arguments
    };
    let invalid = |why: String| {
        Error::invalid(
            format!("The tool call's arguments must be a JSON object: {why}."),
            Some(&format!("{param}.function.arguments")),
        )
    };
    let input = RawValue::from_string(arguments.to_owned()).map_err(|e| invalid(e.to_string()))?;
    if !input.get().starts_with('{') {
        return Err(invalid(format!("got {}", input.get())));
    }
    Ok(Block::ToolUse {
        id: &call.id,
        name: &call.function.name,
        input,
    })
}

fn tool_result<'a>(
    message: &'a Message,
    i: usize,
    settings: &Settings<'_>,
) -> Result<Block<'a>, Error> {
    let tool_use_id = message
        .tool_call_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                "A tool message needs the tool_call_id of the call it answers.",
                Some(&format!("messages[{i}].tool_call_id")),
            )
        })?;
    Ok(Block::ToolResult {
        tool_use_id,
        content: content_blocks(message.content.as_ref(), i, settings)?,
    })
}
