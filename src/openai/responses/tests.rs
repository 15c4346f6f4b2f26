use serde_json::{Value, json};

use super::from_chat::{self, ResponsesStream};
use super::object::{Echo, Shell};
use super::to_chat::translate;
use crate::completion::{Chunk, Tokens, Translate};
use crate::error::Error;

fn chat_of(request: &Value) -> (Value, Vec<String>, Vec<String>) {
    chat_with(request, false)
}

/// As `chat_of`, for a target that wants the reasoning back or not.
fn chat_with(request: &Value, reasoning_back: bool) -> (Value, Vec<String>, Vec<String>) {
    let translated =
        translate(request.to_string().as_bytes(), reasoning_back).unwrap_or_else(|e| panic!("{e}"));
    let chat = serde_json::from_slice(&translated.body).unwrap_or_else(|e| panic!("{e}"));
    (chat, translated.losses, translated.hints)
}

fn refusal(request: &Value) -> (String, Option<String>) {
    match translate(request.to_string().as_bytes(), false) {
        Err(Error::InvalidRequest { message, param, .. }) => (message, param),
        Err(other) => panic!("not a 400: {other}"),
        Ok(_) => panic!("translated: {request}"),
    }
}

#[test]
fn reasoning_goes_back_as_reasoning_content_to_a_target_that_wants_it() {
    // A tool loop as Codex sends it back: the reasoning item the gateway wrote (the text as its
    // summary), then calls; a second call with no reasoning before it.
    let request = json!({
        "model": "deepseek/deepseek-v4",
        "input": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"type": "reasoning", "id": "rs_1", "summary": [
                {"type": "summary_text", "text": "Paris first. "},
                {"type": "summary_text", "text": "Then Rome."}]},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "18C"},
            {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c2", "output": "21C"},
        ],
    });
    let (chat, _, hints) = chat_with(&request, true);
    let reasoning: Vec<&Value> = chat["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{chat}"))
        .iter()
        .filter(|m| m["role"] == "assistant")
        .map(|m| &m["reasoning_content"])
        .collect();
    assert_eq!(reasoning, [&json!("Paris first. Then Rome."), &json!("")]);
    assert!(!hints.contains(&"reasoning".to_owned()), "{hints:?}");

    // An item with its reasoning as content as well as a summary goes back once, as content.
    let mut both = request.clone();
    both["input"][1]["content"] = json!([{"type": "reasoning_text", "text": "Paris, then Rome."}]);
    let (chat, _, _) = chat_with(&both, true);
    assert_eq!(
        chat["messages"][1]["reasoning_content"], "Paris, then Rome.",
        "{chat}"
    );

    // Toward any other chat target the text stays out, named as a dropped hint.
    let (chat, _, hints) = chat_with(&request, false);
    let messages = chat["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{chat}"));
    assert!(
        messages
            .iter()
            .all(|m| m.get("reasoning_content").is_none()),
        "{chat}"
    );
    assert!(hints.contains(&"reasoning".to_owned()), "{hints:?}");
}

#[test]
fn a_codex_turn_becomes_one_chat_request() {
    let request = json!({
        "model": "groq/llama",
        "instructions": "You are Codex.",
        "input": [
            {"role": "developer", "content": "Be terse."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Weather in Paris?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "low"},
            ]},
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAB"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2", "output": [
                {"type": "input_text", "text": "noon"},
                {"type": "input_image", "image_url": "https://example.com/clock.png"},
            ]},
        ],
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": false,
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true},
            "verbosity": "low"},
        "reasoning": {"effort": "high", "summary": "auto"},
        "max_output_tokens": 500,
        "temperature": 0.2,
        "include": ["reasoning.encrypted_content", "message.output_text.logprobs", "file_search_call.results"],
        "store": false,
        "prompt_cache_key": "conv-1",
        "metadata": {"team": "a"},
        "stream": true,
    });
    let (chat, losses, hints) = chat_of(&request);
    assert_eq!(
        chat["messages"],
        json!([
            {"role": "system", "content": "You are Codex."},
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Paris?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "low"}},
            ]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/clock.png"}}]},
        ])
    );
    assert_eq!(
        chat["tools"],
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    );
    assert_eq!(
        chat["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(
        chat["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}})
    );
    assert_eq!(chat["verbosity"], "low");
    assert_eq!(chat["reasoning_effort"], "high");
    assert_eq!(chat["max_completion_tokens"], 500);
    assert_eq!(chat["temperature"], 0.2);
    assert_eq!(chat["parallel_tool_calls"], false);
    assert_eq!(chat["logprobs"], true);
    assert_eq!(chat["stream_options"], json!({"include_usage": true}));
    assert!(chat.get("metadata").is_none() && chat.get("store").is_none());
    assert!(losses.is_empty(), "{losses:?}");
    assert_eq!(
        hints,
        [
            "include.file_search_call.results",
            "prompt_cache_key",
            "reasoning",
            "reasoning.summary"
        ]
    );
}

#[test]
fn a_string_input_is_a_user_message_and_unknown_fields_are_losses() {
    let (chat, losses, hints) = chat_of(&json!({
        "model": "m", "input": "Hi", "truncation": "auto", "context_management": [{"type": "compaction"}],
        "background": false, "json_object": null, "store": true,
        "text": {"format": {"type": "json_object"}},
    }));
    assert_eq!(chat["messages"], json!([{"role": "user", "content": "Hi"}]));
    assert_eq!(chat["response_format"], json!({"type": "json_object"}));
    assert!(chat.get("stream").is_none());
    assert_eq!(losses, ["context_management", "truncation"]);
    assert_eq!(
        hints,
        ["store"],
        "state asked to be kept, which the gateway does not"
    );
}

#[test]
fn what_needs_openai_itself_is_refused_naming_the_parameter() {
    for (request, param, says) in [
        (
            json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
            "previous_response_id",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools",
            "web_search",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["vs"]}]}),
            "tools",
            "file_search",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "computer_use_preview"}]}),
            "tools",
            "computer_use_preview",
        ),
        (
            json!({"model": "m", "input": "x", "tool_choice": {"type": "web_search_preview"}}),
            "tool_choice",
            "web_search_preview",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input",
            "item_reference",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
            "input",
            "file_id",
        ),
        (
            json!({"model": "m", "input": "x", "background": true}),
            "background",
            "background",
        ),
    ] {
        let (message, refused) = refusal(&request);
        assert_eq!(refused.as_deref(), Some(param), "{request}");
        assert!(message.contains(says), "{message}");
        assert!(message.contains("responses = \"native\""), "{message}");
    }
}

fn shell(request: &Value) -> Shell {
    let Value::Object(map) = request else {
        panic!("not an object")
    };
    Shell::new("groq/llama", &Echo::of(map))
}

fn tokens() -> Tokens {
    Tokens {
        prompt: 50,
        completion: 18,
        total: 68,
        cached_read: 10,
        cache_write: 0,
        reasoning: 4,
    }
}

#[test]
fn a_whole_answer_is_a_response_with_its_items_status_and_usage() {
    let request = json!({"model": "groq/llama", "input": "x", "instructions": "Be brief.",
        "tools": [{"type": "function", "name": "get_weather"}], "metadata": {"k": "v"}, "store": true});
    // A chat completion as Groq sends it, with reasoning, text and a tool call.
    let completion = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1767225600,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":"Checking.","reasoning":"The user wants weather.","tool_calls":[{"id":"call_9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls","logprobs":null}],"usage":{"prompt_tokens":50,"completion_tokens":18,"total_tokens":68}}"#;
    let shell = shell(&request);
    let body = from_chat::response(completion, Some(&tokens()), &shell)
        .unwrap_or_else(|| panic!("not translated"));
    let response: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response["id"], json!(shell.id));
    assert!(shell.id.starts_with("resp_"));
    assert_eq!(response["object"], "response");
    assert_eq!(response["status"], "completed");
    assert_eq!(response["model"], "groq/llama");
    assert_eq!(response["instructions"], "Be brief.");
    assert_eq!(response["store"], false);
    assert_eq!(response["metadata"], json!({"k": "v"}));
    assert_eq!(response["tool_choice"], "auto");
    assert_eq!(response["parallel_tool_calls"], true);
    assert_eq!(response["error"], Value::Null);
    assert_eq!(response["incomplete_details"], Value::Null);
    let output = response["output"]
        .as_array()
        .unwrap_or_else(|| panic!("no output"));
    let kinds: Vec<&str> = output
        .iter()
        .map(|item| item["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["reasoning", "message", "function_call"]);
    assert_eq!(
        output[0]["summary"],
        json!([{"type": "summary_text", "text": "The user wants weather."}])
    );
    assert_eq!(
        output[1]["content"],
        json!([{"type": "output_text", "text": "Checking.", "annotations": [], "logprobs": []}])
    );
    assert_eq!(output[2]["call_id"], "call_9");
    assert_eq!(output[2]["name"], "get_weather");
    assert_eq!(output[2]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(output[2]["status"], "completed");
    assert_eq!(
        response["usage"],
        json!({"input_tokens": 50, "input_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 0},
            "output_tokens": 18, "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 68})
    );

    let cut = br#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Par"},"finish_reason":"length"}]}"#;
    let body = from_chat::response(cut, None, &shell).unwrap_or_else(|| panic!("not translated"));
    let response: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(response["output"][0]["status"], "incomplete");
    assert!(from_chat::response(b"{\"error\":1}", None, &shell).is_none());
}

/// Chat chunks as the openai codec hands them on (its `finish` and `usage` read).
fn chunk(json: &str) -> Chunk {
    let value: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
    let finish = match value["choices"][0]["finish_reason"].as_str() {
        Some("stop") => Some("stop"),
        Some("length") => Some("length"),
        Some("tool_calls") => Some("tool_calls"),
        _ => None,
    };
    Chunk {
        json: json.to_owned(),
        output: true,
        usage: value
            .get("usage")
            .filter(|u| u.is_object())
            .map(|_| tokens()),
        usage_only: false,
        finish,
        model: None,
        event: None,
    }
}

fn events(chunks: &[&str]) -> Vec<(String, Value)> {
    events_for(&json!({"model": "groq/llama", "input": "x"}), chunks)
}

fn events_for(request: &Value, chunks: &[&str]) -> Vec<(String, Value)> {
    let mut stream = ResponsesStream::new(shell(request));
    let mut out = Vec::new();
    for json in chunks {
        stream.chunk(&chunk(json), &mut out);
    }
    stream.end(&mut out);
    out.into_iter()
        .map(|chunk| {
            let value: Value = serde_json::from_str(&chunk.json).unwrap_or_else(|e| panic!("{e}"));
            let name = chunk.event.map(|e| e.into_owned()).unwrap_or_default();
            assert_eq!(value["type"], json!(name));
            (name, value)
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn a_text_stream_is_the_responses_event_sequence_numbered_from_zero() {
    let events = events(&[
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"llama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"llama","choices":[{"index":0,"delta":{"reasoning":"Think."},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"llama","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"llama","choices":[{"index":0,"delta":{"content":" there"},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"llama","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"llama","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":18,"total_tokens":68}}"#,
    ]);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (number, (_, event)) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], json!(number));
    }
    let created = &events[0].1["response"];
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["output"], json!([]));
    assert_eq!(created["usage"], Value::Null);
    let message_id = &events[8].1["item"]["id"];
    assert_eq!(events[8].1["output_index"], 1);
    assert_eq!(events[10].1["item_id"], *message_id);
    assert_eq!(events[10].1["delta"], "Hi");
    assert_eq!(events[12].1["text"], "Hi there");
    let completed = &events[15].1["response"];
    assert_eq!(completed["id"], created["id"]);
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["output"][0]["type"], "reasoning");
    assert_eq!(
        completed["output"][1],
        json!({"type": "message", "id": message_id, "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi there", "annotations": [], "logprobs": []}]})
    );
    assert_eq!(completed["usage"]["input_tokens"], 50);
    assert_eq!(completed["usage"]["output_tokens"], 18);
}

#[test]
fn tool_calls_stream_as_function_call_items_each_completed() {
    let events = events(&[
        r#"{"id":"c2","object":"chat.completion.chunk","created":1,"model":"gpt","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"c2","object":"chat.completion.chunk","created":1,"model":"gpt","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c2","object":"chat.completion.chunk","created":1,"model":"gpt","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c2","object":"chat.completion.chunk","created":1,"model":"gpt","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c2","object":"chat.completion.chunk","created":1,"model":"gpt","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
    ]);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        events[2].1["item"],
        json!({"type": "function_call", "id": events[3].1["item_id"], "call_id": "call_1",
            "name": "get_weather", "arguments": "", "status": "in_progress"})
    );
    assert_eq!(events[4].1["output_index"], 1);
    assert_eq!(events[6].1["output_index"], 0);
    assert_eq!(events[7].1["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(events[7].1["name"], "get_weather");
    assert_eq!(events[10].1["item"]["call_id"], "call_2");
    let output = &events[11].1["response"]["output"];
    assert_eq!(output[0]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(output[0]["status"], "completed");
    assert_eq!(output[1]["name"], "get_time");
}

#[test]
fn a_stream_cut_by_the_limit_is_incomplete_and_carries_its_usage_for_metering() {
    let mut stream = ResponsesStream::new(shell(&json!({"model": "m", "input": "x"})));
    let mut out = Vec::new();
    stream.chunk(
        &chunk(
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Par"},"finish_reason":"length"}],"usage":{"prompt_tokens":50,"completion_tokens":18,"total_tokens":68}}"#,
        ),
        &mut out,
    );
    // The preamble is held back: it is not output.
    assert!(!out[0].output && !out[1].output && out[2].output);
    stream.end(&mut out);
    let last = out.last().unwrap_or_else(|| panic!("no events"));
    assert_eq!(last.event.as_deref(), Some("response.incomplete"));
    assert_eq!(last.usage, Some(tokens()));
    assert_eq!(last.finish, Some("length"));
    let value: Value = serde_json::from_str(&last.json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        value["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(value["response"]["output"][0]["status"], "incomplete");
}

#[test]
fn signed_reasoning_goes_out_sealed_and_comes_back_to_its_assistant_turn() {
    let details = json!([{"type": "reasoning.text", "text": "Call the tool.", "signature": "EqQBCgIYAh",
        "format": "anthropic-claude-v1", "index": 0}]);
    let completion = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "claude",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
            "content": "Let me check.", "reasoning_content": "Call the tool.", "reasoning_details": details,
            "tool_calls": [{"id": "toolu_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}]});
    let shell = shell(&json!({"model": "claude/sonnet", "input": "x"}));
    let body = from_chat::response(completion.to_string().as_bytes(), None, &shell)
        .unwrap_or_else(|| panic!("not translated"));
    let response: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
    let output = response["output"].as_array().cloned().unwrap_or_default();
    assert_eq!(output[0]["type"], "reasoning");
    assert!(
        output[0]["encrypted_content"]
            .as_str()
            .is_some_and(|sealed| sealed.starts_with("switchyard.reasoning.v1:")),
        "{response}"
    );

    // The client sends the output back, as Codex does, with the call's result.
    let mut input = vec![json!({"role": "user", "content": "Weather in Paris?"})];
    input.extend(output);
    input.push(json!({"type": "function_call_output", "call_id": "toolu_1", "output": "18C"}));
    let (chat, _, hints) = chat_of(&json!({"model": "claude/sonnet", "input": input}));
    let assistant = &chat["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["content"], "Let me check.");
    assert_eq!(assistant["reasoning_details"], details);
    assert_eq!(assistant["tool_calls"][0]["id"], "toolu_1");
    assert!(!hints.contains(&"reasoning".to_owned()), "{hints:?}");

    // Streamed, the details arrive after the thinking they sign, and the item carries them.
    let mut stream = ResponsesStream::new(shell);
    let mut out = Vec::new();
    let details_chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"reasoning_details": details}, "finish_reason": null}]});
    for json in [
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":"Call the tool."},"finish_reason":null}]}"#.to_owned(),
        details_chunk.to_string(),
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Let me check."},"finish_reason":"stop"}]}"#.to_owned(),
    ] {
        stream.chunk(&chunk(&json), &mut out);
    }
    stream.end(&mut out);
    let done: Vec<Value> = out
        .iter()
        .filter(|c| c.event.as_deref() == Some("response.output_item.done"))
        .filter_map(|c| serde_json::from_str(&c.json).ok())
        .collect();
    assert_eq!(done[0]["item"]["type"], "reasoning");
    assert_eq!(done[0]["item"]["summary"][0]["text"], "Call the tool.");
    assert_eq!(
        done[0]["item"]["encrypted_content"],
        output_sealed(&details)
    );
    assert_eq!(done[1]["item"]["type"], "message");
}

/// What the whole answer above sealed, for the same details.
fn output_sealed(details: &Value) -> Value {
    let completion = json!({"choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "reasoning_details": details}}]});
    let shell = shell(&json!({"model": "m", "input": "x"}));
    let body = from_chat::response(completion.to_string().as_bytes(), None, &shell)
        .unwrap_or_else(|| panic!("not translated"));
    let response: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
    response["output"][0]["encrypted_content"].clone()
}

#[test]
fn a_custom_tool_is_a_function_of_one_string_and_its_calls_come_back_as_custom_calls() {
    let grammar = "start: begin_patch hunk+ end_patch";
    let request = json!({"model": "anthropic/claude", "tools": [
            {"type": "custom", "name": "apply_patch", "description": "Edit files.",
                "format": {"type": "grammar", "syntax": "lark", "definition": grammar}},
            {"type": "function", "name": "shell", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "custom", "name": "apply_patch"},
        "input": [
            {"type": "message", "role": "user", "content": "Fix the typo."},
            {"type": "custom_tool_call", "call_id": "call_p", "name": "apply_patch",
                "input": "*** Begin Patch\n*** End Patch"},
            {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Done!"}]});
    let (chat, losses, hints) = chat_of(&request);
    assert!(
        losses.is_empty() && hints.is_empty(),
        "{losses:?} {hints:?}"
    );
    let function = &chat["tools"][0]["function"];
    assert_eq!(function["name"], "apply_patch");
    let description = function["description"].as_str().unwrap_or_default();
    assert!(
        description.starts_with("Edit files.") && description.contains(grammar),
        "{description}"
    );
    assert_eq!(function["parameters"]["required"], json!(["input"]));
    assert_eq!(
        function["parameters"]["properties"]["input"]["type"],
        "string"
    );
    assert_eq!(chat["tools"][1]["function"]["name"], "shell");
    assert_eq!(
        chat["tool_choice"],
        json!({"type": "function", "function": {"name": "apply_patch"}})
    );
    let call = &chat["messages"][1]["tool_calls"][0];
    assert_eq!(call["id"], "call_p");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        arguments,
        json!({"input": "*** Begin Patch\n*** End Patch"})
    );
    assert_eq!(
        chat["messages"][2],
        json!({"role": "tool", "tool_call_id": "call_p", "content": "Done!"})
    );

    // A whole answer: the call to the custom tool is a custom call, the other a function call.
    let completion = br#"{"id":"c","object":"chat.completion","created":1,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"apply_patch","arguments":"{\"input\":\"*** Begin Patch\\n\"}"}},{"id":"call_2","type":"function","function":{"name":"shell","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#;
    let body = from_chat::response(completion, None, &shell(&request))
        .unwrap_or_else(|| panic!("not translated"));
    let response: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
    let custom = &response["output"][0];
    assert!(
        custom["id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("ctc_")
    );
    assert_eq!(
        custom,
        &json!({"type": "custom_tool_call", "id": custom["id"], "call_id": "call_1",
            "name": "apply_patch", "input": "*** Begin Patch\n"})
    );
    assert_eq!(response["output"][1]["type"], "function_call");

    // A stream: the input is written whole once the call closes, never as JSON pieces.
    let events = events_for(
        &request,
        &[
            r#"{"id":"c3","object":"chat.completion.chunk","created":1,"model":"claude","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"apply_patch","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"c3","object":"chat.completion.chunk","created":1,"model":"claude","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"input\": \"*** Be"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c3","object":"chat.completion.chunk","created":1,"model":"claude","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"gin Patch\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c3","object":"chat.completion.chunk","created":1,"model":"claude","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ],
    );
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let id = events[2].1["item"]["id"].clone();
    assert_eq!(
        events[2].1["item"],
        json!({"type": "custom_tool_call", "id": id, "call_id": "call_1", "name": "apply_patch", "input": ""})
    );
    assert_eq!(events[3].1["item_id"], id);
    assert_eq!(events[3].1["delta"], "*** Begin Patch");
    assert_eq!(events[4].1["input"], "*** Begin Patch");
    assert_eq!(events[5].1["item"]["input"], "*** Begin Patch");
    assert_eq!(
        events[6].1["response"]["output"][0]["input"],
        "*** Begin Patch"
    );
}
