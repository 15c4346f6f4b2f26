//! OpenAI Chat Completions request -> Gemini `generateContent` request. Pure: no I/O, and every
//! refusal is a 400 naming the parameter at fault.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Value, json};

use super::media;
use super::schema::{self, Use};
use super::signature;
use super::types::{
    Content, FunctionCall, FunctionCallingConfig, FunctionDeclaration, FunctionResponse,
    GenerateContentRequest, GenerationConfig, MODEL, Part, ThinkingConfig, Tool, ToolConfig, USER,
};
use crate::error::Error;
use crate::openai::message::{Content as MessageContent, Message, PartRef, Role};
use crate::openai::params::{ChatParams, ResponseFormat, ToolChoice};

/// The request parameters this translation honours; `params::screen` refuses or drops the rest.
pub const HONOURED: &[&str] = &[
    "messages",
    "tools",
    "tool_choice",
    "response_format",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
];

/// Plain text messages give their strings up to the parts (hence `&mut`): the conversation is
/// not held twice.
pub fn translate(params: &mut ChatParams) -> Result<GenerateContentRequest, Error> {
    let (system_instruction, contents) = contents(&mut params.messages)?;
    let tools = tools(params)?;
    let tool_config = params.tool_choice.as_ref().map(tool_config);
    let generation_config = generation_config(params)?;
    Ok(GenerateContentRequest {
        contents,
        system_instruction,
        tools,
        tool_config,
        generation_config: (generation_config != GenerationConfig::default())
            .then_some(generation_config),
    })
}

/// The system instruction, and the turns: user and model alternating, consecutive turns of one
/// role merged (Gemini wants them alternating; tool results are user turns).
fn contents(messages: &mut [Message]) -> Result<(Option<Content>, Vec<Content>), Error> {
    let mut system = Vec::new();
    let mut turns: Vec<Content> = Vec::new();
    // The plain ids of the tool calls so far, to the function each one called: a tool result
    // names its function in Gemini, an id in OpenAI.
    let mut called: HashMap<String, String> = HashMap::new();
    for (i, message) in messages.iter_mut().enumerate() {
        if let Some((role, parts)) = take_plain_text(message) {
            push_turn(&mut turns, role, parts);
            continue;
        }
        let message = &*message;
        let (role, parts) = match message.role {
            Role::System | Role::Developer => {
                system.extend(text_only(message, i, "a system instruction")?);
                continue;
            }
            Role::User => (USER, user_parts(message, i)?),
            Role::Assistant => (MODEL, model_parts(message, i, &mut called)?),
            Role::Tool => (USER, vec![tool_result(message, i, &called)?]),
            Role::Function => (USER, vec![function_result(message, i)?]),
        };
        push_turn(&mut turns, role, parts);
    }
    if turns.is_empty() {
        return Err(Error::invalid(
            "Gemini needs at least one user or assistant message besides the system messages.",
            Some("messages"),
        ));
    }
    let system = (!system.is_empty()).then_some(Content {
        role: None,
        parts: system,
    });
    Ok((system, turns))
}

/// A user message, or an assistant message with no calls or signed reasoning, that is a plain
/// string: the string is taken into its part rather than copied.
fn take_plain_text(message: &mut Message) -> Option<(&'static str, Vec<Part>)> {
    let role = match message.role {
        Role::User => USER,
        Role::Assistant
            if message.tool_calls.is_empty() && message.reasoning_details.is_empty() =>
        {
            MODEL
        }
        _ => return None,
    };
    let Some(MessageContent::Text(text)) = message.content.as_mut() else {
        return None;
    };
    let text = std::mem::take(text);
    let parts = if text.is_empty() {
        Vec::new()
    } else {
        vec![Part::text(text)]
    };
    Some((role, parts))
}

fn push_turn(turns: &mut Vec<Content>, role: &'static str, parts: Vec<Part>) {
    if parts.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
        _ => turns.push(Content {
            role: Some(Cow::Borrowed(role)),
            parts,
        }),
    }
}

fn text_only(message: &Message, i: usize, what: &str) -> Result<Vec<Part>, Error> {
    let Some(content) = &message.content else {
        return Ok(Vec::new());
    };
    let content_parts = content.parts();
    let mut parts = Vec::with_capacity(content_parts.len());
    for (j, part) in content_parts.into_iter().enumerate() {
        match part {
            PartRef::Text(text) | PartRef::Refusal(text) => {
                if !text.is_empty() {
                    parts.push(Part::text(text));
                }
            }
            _ => {
                return Err(Error::invalid(
                    format!(
                        "Gemini takes only text in {what}: 'messages[{i}].content[{j}]' is not text."
                    ),
                    Some(&format!("messages[{i}].content[{j}]")),
                ));
            }
        }
    }
    Ok(parts)
}

fn user_parts(message: &Message, i: usize) -> Result<Vec<Part>, Error> {
    let Some(content) = &message.content else {
        return Ok(Vec::new());
    };
    let content_parts = content.parts();
    let mut parts = Vec::with_capacity(content_parts.len());
    for (j, part) in content_parts.into_iter().enumerate() {
        // Only built for the parts that name it (media and errors), not for every text.
        let param = || match content {
            MessageContent::Text(_) => format!("messages[{i}].content"),
            MessageContent::Parts(_) => format!("messages[{i}].content[{j}]"),
        };
        let part = match part {
            PartRef::Text(text) | PartRef::Refusal(text) => {
                if text.is_empty() {
                    continue;
                }
                Part::text(text)
            }
            PartRef::Image(image) => {
                media::url_part(image.url(), &format!("{}.image_url", param()))?
            }
            PartRef::Audio(audio) => media::audio_part(audio, &format!("{}.input_audio", param()))?,
            PartRef::File(file) => media::file_part(file, &format!("{}.file", param()))?,
            PartRef::Unknown => {
                let param = param();
                return Err(Error::invalid(
                    format!("'{param}' is a content part of a kind Gemini cannot take."),
                    Some(&param),
                ));
            }
        };
        parts.push(part);
    }
    Ok(parts)
}

/// An assistant message as a model turn: its text, then its calls, each with the signature its
/// id carried; text signatures from `reasoning_details` go back on the parts they came from.
fn model_parts(
    message: &Message,
    i: usize,
    called: &mut HashMap<String, String>,
) -> Result<Vec<Part>, Error> {
    let mut parts = text_only(message, i, "assistant messages")?;
    for (k, call) in message.tool_calls.iter().enumerate() {
        let param = format!("messages[{i}].tool_calls[{k}].function.arguments");
        let args = arguments(&call.function.arguments, &param)?;
        let (plain, thought_signature) = signature::split_id(&call.id);
        called.insert(plain.to_owned(), call.function.name.clone());
        parts.push(Part {
            function_call: Some(Box::new(FunctionCall {
                id: None,
                name: call.function.name.clone(),
                args: Some(args),
            })),
            thought_signature,
            ..Part::default()
        });
    }
    // The message's text is rebuilt as one part (the first), so the first text signature goes
    // back on it. Gemini checks only the signatures of calls, which travel in their ids; one with
    // no text part to sit on is not needed back.
    if let Some(sig) = message
        .reasoning_details
        .iter()
        .find_map(signature::from_detail)
        && let Some(part) = parts.first_mut()
        && part.text.is_some()
        && part.thought_signature.is_none()
    {
        part.thought_signature = Some(sig.to_owned());
    }
    Ok(parts)
}

/// Tool-call arguments as the JSON object Gemini wants.
fn arguments(text: &str, param: &str) -> Result<Value, Error> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(object @ Value::Object(_)) => Ok(object),
        Ok(_) => Err(Error::invalid(
            format!("'{param}' must be a JSON object for Gemini."),
            Some(param),
        )),
        Err(e) => Err(Error::invalid(
            format!("'{param}' is not valid JSON: {e}."),
            Some(param),
        )),
    }
}

fn tool_result(
    message: &Message,
    i: usize,
    called: &HashMap<String, String>,
) -> Result<Part, Error> {
    let param = format!("messages[{i}].tool_call_id");
    let id = message.tool_call_id.as_deref().unwrap_or_default();
    let (plain, _) = signature::split_id(id);
    let name = called
        .get(plain)
        .cloned()
        .or_else(|| message.name.clone())
        .ok_or_else(|| {
            Error::invalid(
                format!("'{param}' ({id:?}) answers no tool call of an earlier assistant message, and Gemini needs the function's name."),
                Some(&param),
            )
        })?;
    function_response(name, message, i)
}

/// The legacy `function` role: the name is on the message.
fn function_result(message: &Message, i: usize) -> Result<Part, Error> {
    let name = message.name.clone().ok_or_else(|| {
        Error::invalid(
            format!("'messages[{i}].name' is required on a function message."),
            Some(&format!("messages[{i}].name")),
        )
    })?;
    function_response(name, message, i)
}

fn function_response(name: String, message: &Message, i: usize) -> Result<Part, Error> {
    let text: String = text_only(message, i, "tool results")?
        .into_iter()
        .filter_map(|p| p.text)
        .collect();
    Ok(Part {
        function_response: Some(Box::new(FunctionResponse {
            name,
            // Gemini wants an object; the result is text, so it is wrapped.
            response: json!({ "content": text }),
        })),
        ..Part::default()
    })
}

fn tools(params: &ChatParams) -> Result<Vec<Tool>, Error> {
    if params.tools.is_empty() {
        return Ok(Vec::new());
    }
    let mut declarations = Vec::with_capacity(params.tools.len());
    for (t, tool) in params.tools.iter().enumerate() {
        if let Some(kind) = tool.kind.as_deref().filter(|k| *k != "function") {
            let param = format!("tools[{t}].type");
            return Err(Error::invalid(
                format!("Gemini takes only function tools; '{param}' is {kind:?}."),
                Some(&param),
            ));
        }
        declarations.push(FunctionDeclaration {
            name: tool.function.name.clone(),
            description: tool.function.description.clone(),
            parameters: schema::parameters(tool.function.parameters.as_ref()),
        });
    }
    Ok(vec![Tool {
        function_declarations: declarations,
    }])
}

fn tool_config(choice: &ToolChoice) -> ToolConfig {
    let (mode, allowed_function_names) = match choice {
        ToolChoice::None => ("NONE", Vec::new()),
        ToolChoice::Auto => ("AUTO", Vec::new()),
        ToolChoice::Required => ("ANY", Vec::new()),
        ToolChoice::Function(name) => ("ANY", vec![name.clone()]),
    };
    ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names,
        },
    }
}

fn generation_config(params: &ChatParams) -> Result<GenerationConfig, Error> {
    let (response_mime_type, response_schema) = match &params.response_format {
        None | Some(ResponseFormat::Text) => (None, None),
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { json_schema }) => (
            Some("application/json"),
            json_schema
                .schema
                .as_ref()
                .map(|s| schema::sanitize(s, Use::Response)),
        ),
    };
    Ok(GenerationConfig {
        stop_sequences: params.stop_sequences(),
        response_mime_type,
        response_schema,
        max_output_tokens: params.max_output_tokens(),
        temperature: params.temperature,
        top_p: params.top_p,
        seed: params.seed,
        presence_penalty: params.presence_penalty,
        frequency_penalty: params.frequency_penalty,
        thinking_config: params
            .reasoning_effort
            .as_deref()
            .map(thinking)
            .transpose()?,
    })
}

/// `reasoning_effort` as a thinking budget (tokens), with thought summaries returned as
/// `reasoning_content`. The budgets sit inside what both Flash and Pro accept.
fn thinking(effort: &str) -> Result<ThinkingConfig, Error> {
    let budget = match effort {
        "none" => {
            return Ok(ThinkingConfig {
                thinking_budget: 0,
                include_thoughts: false,
            });
        }
        "minimal" => 512,
        "low" => 1024,
        "medium" => 8192,
        // Flash models cap the budget at 24576: the top of OpenAI's scale maps to that cap.
        "high" | "xhigh" => 24576,
        other => {
            return Err(Error::invalid(
                format!(
                    "Invalid 'reasoning_effort' {other:?} for Gemini: expected none, minimal, low, medium, high or xhigh."
                ),
                Some("reasoning_effort"),
            ));
        }
    };
    Ok(ThinkingConfig {
        thinking_budget: budget,
        include_thoughts: true,
    })
}
