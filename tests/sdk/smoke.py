"""Smoke test with the official `openai` Python SDK against a running switchyard binary.

Usage: python tests/sdk/smoke.py path/to/switchyard
Starts the gateway on a free loopback port with a gateway key, then uses the SDK the way a user
would: base_url pointed at the gateway, one whole and one streamed completion, and an error.
A Gemini-kind route, served by a fake Gemini upstream replaying fixtures, checks that the SDK's
own stream assembly yields the right text and tool call, and that the next turn gets the thought
signature back. A fake Anthropic Messages API (answering from tests/fixtures/anthropic) stands
behind a `claude` provider of kind anthropic, checked the same way, and the official `anthropic`
SDK speaks to the gateway's own Messages API in front of it, its parsed objects checked.
"""

import base64
import http.server
import json
import os
import pathlib
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

import anthropic
import openai

GATEWAY_KEY = "sk-switchyard-smoke"
ANTHROPIC_FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "anthropic"
CLAUDE = "claude/claude-sonnet-4-5"
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "gemini")


def reply(handler: http.server.BaseHTTPRequestHandler, payload: bytes, kind: str) -> None:
    """A fake upstream's 200 with `payload` as `kind`."""
    handler.send_response(200)
    handler.send_header("content-type", kind)
    handler.send_header("content-length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def reply_pausing(handler: http.server.BaseHTTPRequestHandler, payload: bytes, kind: str) -> None:
    """As `reply`, with a pause after the first two events, as a model that stops to think."""
    handler.send_response(200)
    handler.send_header("content-type", kind)
    handler.send_header("content-length", str(len(payload)))
    handler.end_headers()
    events = payload.split(b"\n\n")
    opening = b"\n\n".join(events[:2]) + b"\n\n"
    handler.wfile.write(opening)
    time.sleep(PAUSE_S)
    handler.wfile.write(payload[len(opening):])


# Longer than the gateway's keep_alive in the smoke config, so keep-alives flow in the pause.
PAUSE_S = 0.6


def vector(text: str, dimensions: int) -> list:
    """A fake embedding: small exact binary fractions, so float32 packing loses nothing."""
    return [((len(text) + i) % 8) / 8 for i in range(dimensions)]


def openai_embeddings(body: dict) -> dict:
    """An OpenAI embeddings answer, base64 when asked, as OpenAI answers."""
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = []
    for index, text in enumerate(texts):
        values = vector(text, body.get("dimensions", 4))
        if body.get("encoding_format") == "base64":
            values = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": index, "embedding": values})
    return {"object": "list", "data": data, "model": body["model"],
            "usage": {"prompt_tokens": 2 * len(texts), "total_tokens": 2 * len(texts)}}


RESPONSE_MESSAGE = {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hi there", "annotations": []}]}


def response_object(model: str, status: str) -> dict:
    """A Responses API response, as a server that speaks the API answers."""
    done = status == "completed"
    return {"id": "resp_1", "object": "response", "created_at": 1767225600, "status": status,
            "model": f"{model}-2025-08-07", "output": [RESPONSE_MESSAGE] if done else [], "error": None,
            "incomplete_details": None, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": 7} if done else None}


def responses_stream(model: str) -> bytes:
    part = {"type": "output_text", "text": "", "annotations": []}
    events = [
        {"type": "response.created", "response": response_object(model, "in_progress")},
        {"type": "response.in_progress", "response": response_object(model, "in_progress")},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**RESPONSE_MESSAGE, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": part},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "delta": "Hi", "logprobs": []},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "delta": " there", "logprobs": []},
        {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "text": "Hi there", "logprobs": []},
        {"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "part": {**part, "text": "Hi there"}},
        {"type": "response.output_item.done", "output_index": 0, "item": RESPONSE_MESSAGE},
        {"type": "response.completed", "response": response_object(model, "completed")},
    ]
    return "".join(
        f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': i})}\n\n" for i, e in enumerate(events)
    ).encode()


WEATHER_REPORT = {"city": "Paris", "temperature_c": 18}


def gemini_json_answer() -> dict:
    """Gemini's answer to a request with a response schema: the JSON as the text."""
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": json.dumps(WEATHER_REPORT)}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 9, "totalTokenCount": 21},
            "modelVersion": "gemini-2.5-flash"}


def chat_json_answer(model: str) -> dict:
    """A chat completion answering a json_schema response_format."""
    return {"id": "chatcmpl-json", "object": "chat.completion", "created": 1767225600, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(WEATHER_REPORT)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}}


def fixture(name: str) -> bytes:
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


class FakeGemini(http.server.BaseHTTPRequestHandler):
    """Answers like Gemini from fixtures: tool calls when the request declares tools."""

    received: list = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        FakeGemini.received.append((self.path, dict(self.headers), body))
        if self.path.endswith(":batchEmbedContents"):
            vectors = [vector(r["content"]["parts"][0]["text"], r.get("outputDimensionality", 4)) for r in body["requests"]]
            reply(self, json.dumps({"embeddings": [{"values": v} for v in vectors]}).encode(), "application/json")
            return
        stream = ":streamGenerateContent" in self.path
        tools = bool(body.get("tools")) and body["contents"][-1]["role"] == "user" and not any(
            "functionResponse" in part for part in body["contents"][-1]["parts"]
        )
        if stream:
            answer, kind = fixture("tool_stream.sse" if tools else "text_stream.sse"), "text/event-stream"
        elif "responseSchema" in body.get("generationConfig", {}):
            answer, kind = json.dumps(gemini_json_answer()).encode(), "application/json"
        else:
            answer, kind = fixture("tool.json" if tools else "text.json"), "application/json"
        reply(self, answer, kind)

    def log_message(self, *args) -> None:
        pass


def start_fake_gemini() -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeGemini)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class FakeAnthropic(http.server.BaseHTTPRequestHandler):
    """POST /v1/messages: the tool-use stream fixture when asked to stream, else the text answer."""

    received: list = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
        FakeAnthropic.received.append((self.path, body))
        if self.path == "/v1/messages/count_tokens":
            payload, kind = b'{"input_tokens": 42}', "application/json"
        elif body.get("stream"):
            payload, kind = (ANTHROPIC_FIXTURES / "tool_use_stream.sse").read_bytes(), "text/event-stream"
        elif (body.get("tool_choice") or {}).get("name") == "weather_report":
            payload, kind = (ANTHROPIC_FIXTURES / "json_schema.json").read_bytes(), "application/json"
        else:
            payload, kind = (ANTHROPIC_FIXTURES / "text.json").read_bytes(), "application/json"
        reply(self, payload, kind)

    def log_message(self, *args) -> None:
        pass


OPENAI_FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "openai"


class FakeOpenAI(http.server.BaseHTTPRequestHandler):
    """POST /v1/chat/completions from fixtures: the tool-call stream when tools are declared and
    the last message is the user's, else the text stream or the whole answer."""

    received: list = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
        FakeOpenAI.received.append((self.path, body))
        if self.path == "/v1/embeddings":
            reply(self, json.dumps(openai_embeddings(body)).encode(), "application/json")
            return
        if self.path == "/v1/responses":
            if not self.server.native:
                # A chat-only server has no Responses API.
                reply_status(self, 404, b'{"error":{"message":"Not found","type":"invalid_request_error"}}')
                return
            native = native_answer(body)
            if native is not None:
                reply(self, json.dumps(native).encode(), "application/json")
            elif body.get("stream"):
                reply(self, responses_stream(body["model"]), "text/event-stream")
            else:
                reply(self, json.dumps(response_object(body["model"], "completed")).encode(), "application/json")
            return
        tools = bool(body.get("tools")) and body["messages"][-1]["role"] == "user"
        if (body.get("response_format") or {}).get("type") == "json_schema" and not body.get("stream"):
            reply(self, json.dumps(chat_json_answer(body["model"])).encode(), "application/json")
            return
        if body.get("stream"):
            name = "tool_calls_stream.sse" if tools else "text_stream.sse"
            payload, kind = (OPENAI_FIXTURES / name).read_bytes(), "text/event-stream"
            if body["model"] == "slow":
                reply_pausing(self, payload, kind)
                return
        else:
            payload, kind = (OPENAI_FIXTURES / "completion.json").read_bytes(), "application/json"
        reply(self, payload, kind)

    def log_message(self, *args) -> None:
        pass


def reply_status(handler: http.server.BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def native_answer(body: dict):
    """What a server that speaks the Responses API answers to a whole request with a function tool
    (a call, unless the last item is its output) or a json_schema format; None for the rest."""
    if body.get("stream"):
        return None
    items = body["input"] if isinstance(body["input"], list) else []
    if body.get("tools") and items and items[-1].get("type") != "function_call_output":
        answer = response_object(body["model"], "completed")
        answer["output"] = [{"type": "function_call", "id": "fc_1", "call_id": "call_native", "name": "get_weather",
                             "arguments": json.dumps({"city": "Paris"}), "status": "completed"}]
        return answer
    if ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema":
        answer = response_object(body["model"], "completed")
        answer["output"] = [{**RESPONSE_MESSAGE, "content": [
            {"type": "output_text", "text": json.dumps(WEATHER_REPORT), "annotations": []}]}]
        return answer
    return None


def openai_server(native: bool) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    server.native = native
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"switchyard exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("switchyard did not become ready in 30 s")


def test_whole(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="echo/smoke",
        messages=[
            {"role": "system", "content": "Repeat after me."},
            {"role": "user", "content": "hello from the openai sdk"},
        ],
    )
    assert completion.object == "chat.completion", completion
    assert completion.model == "echo/smoke", completion.model
    assert completion.choices[0].message.content == "hello from the openai sdk", completion
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 5, completion.usage


def test_stream(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="echo/smoke",
        messages=[{"role": "user", "content": "streamed word by word"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, ids = "", None, None, set()
    for chunk in stream:
        ids.add(chunk.id)
        assert chunk.object == "chat.completion.chunk"
        assert chunk.model == "echo/smoke"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == "streamed word by word", text
    assert finish == "stop", finish
    assert usage is not None and usage.total_tokens == 8, usage
    assert len(ids) == 1, ids


def test_stream_helper(client: openai.OpenAI) -> None:
    # The SDK's own stream assembly (the beta helper) must accept the chunks too.
    with client.beta.chat.completions.stream(
        model="echo/smoke", messages=[{"role": "user", "content": "assembled by the sdk"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "assembled by the sdk", final


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def test_gemini_text(client: openai.OpenAI) -> None:
    expected = "Paris is the capital of France — about 2.1 million people live there. Note: 1 < 2 & café ☃."
    with client.beta.chat.completions.stream(
        model="gem/gemini-2.5-flash", messages=[{"role": "user", "content": "Capital of France?"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == expected, final
    assert final.choices[0].finish_reason == "stop", final
    whole = client.chat.completions.create(
        model="gem/gemini-2.5-flash", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert whole.choices[0].message.content == expected, whole
    assert whole.usage is not None and whole.usage.completion_tokens == 55, whole.usage


def test_gemini_tool_call(client: openai.OpenAI) -> None:
    question = {"role": "user", "content": "Weather and time in Paris?"}
    with client.beta.chat.completions.stream(
        model="gem/gemini-2.5-flash", messages=[question], tools=[WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls", final
    assert message.content == "Let me look both up.", message
    calls = message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"], calls
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}, calls

    # The next turn, as an SDK user writes it: the assistant message back, then the results.
    followup = client.chat.completions.create(
        model="gem/gemini-2.5-flash",
        tools=[WEATHER_TOOL],
        messages=[
            question,
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": "18C"},
            {"role": "tool", "tool_call_id": calls[1].id, "content": "14:05"},
        ],
    )
    assert followup.choices[0].finish_reason == "stop", followup
    sent = FakeGemini.received[-1][2]["contents"]
    signature = json.loads(fixture("tool.json"))["candidates"][0]["content"]["parts"][1]["thoughtSignature"]
    model_turn = sent[1]["parts"]
    assert model_turn[1]["thoughtSignature"] == signature, model_turn
    responses = [p["functionResponse"]["name"] for p in sent[2]["parts"]]
    assert responses == ["get_weather", "get_time"], sent


def test_claude_whole(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "Weather in Paris?"}]
    )
    assert completion.model == CLAUDE, completion.model
    message = completion.choices[0].message
    assert message.content == 'Bonjour ! Il fait 18 °C à Paris, "nuageux".\nBonne journée ☃', message
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens == 1233, usage
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 1024, usage
    path, sent = FakeAnthropic.received[-1]
    assert path == "/v1/messages" and sent["messages"][0]["role"] == "user", sent


def test_claude_stream_tool_calls(client: openai.OpenAI) -> None:
    # The SDK assembles the streamed tool calls itself (and parses strict tools' arguments).
    tools = [{"type": "function", "function": {"name": "get_weather", "strict": True, "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city", "unit"], "additionalProperties": False}}}]
    with client.beta.chat.completions.stream(
        model=CLAUDE, messages=[{"role": "user", "content": "Paris and Tokyo?"}], tools=tools
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    assert choice.message.content == "I'll look up the weather in both cities.", choice.message
    calls = choice.message.tool_calls or []
    assert [call.id for call in calls] == ["toolu_01A09q90qw90lq917835lq9", "toolu_01BmN8pYdxkW3Qv7c1kXyZtR"], calls
    assert [call.function.name for call in calls] == ["get_weather", "get_weather"], calls
    assert [json.loads(call.function.arguments) for call in calls] == [
        {"city": "Paris", "unit": "c"}, {"city": "Tokyo", "unit": "c"}], calls
    assert calls[1].function.parsed_arguments == {"city": "Tokyo", "unit": "c"}, calls[1]


def test_messages_whole(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=CLAUDE,
        max_tokens=256,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert message.type == "message" and message.role == "assistant", message
    assert message.model == CLAUDE, message.model
    assert message.content[0].type == "text", message.content
    assert message.content[0].text == 'Bonjour ! Il fait 18 °C à Paris, "nuageux".\nBonne journée ☃', message
    assert message.stop_reason == "end_turn", message
    assert message.usage.input_tokens == 21 and message.usage.cache_read_input_tokens == 1024, message.usage
    path, sent = FakeAnthropic.received[-1]
    assert path == "/v1/messages", path
    assert sent["model"] == "claude-sonnet-4-5", sent["model"]
    assert sent["system"] == [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}], sent


def test_messages_stream_tool_round_trip(claude: anthropic.Anthropic) -> None:
    tools = [{"name": "get_weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}}}]
    question = {"role": "user", "content": "Paris and Tokyo?"}
    with claude.messages.stream(model=CLAUDE, max_tokens=256, messages=[question], tools=tools) as stream:
        final = stream.get_final_message()
    assert final.model == CLAUDE, final.model
    assert final.stop_reason == "tool_use", final
    kinds = [block.type for block in final.content]
    assert kinds == ["text", "tool_use", "tool_use"], kinds
    calls = [block for block in final.content if block.type == "tool_use"]
    assert [call.input for call in calls] == [{"city": "Paris", "unit": "c"}, {"city": "Tokyo", "unit": "c"}], calls
    # The results go back, and the conversation goes on: whole, this time.
    results = [{"type": "tool_result", "tool_use_id": call.id, "content": "18 °C"} for call in calls]
    answer = claude.messages.create(
        model=CLAUDE,
        max_tokens=256,
        tools=tools,
        messages=[question, {"role": "assistant", "content": final.content}, {"role": "user", "content": results}],
    )
    assert answer.content[0].type == "text", answer
    _, sent = FakeAnthropic.received[-1]
    assert sent["messages"][2]["content"] == results, sent["messages"][2]
    assert [b["type"] for b in sent["messages"][1]["content"]] == ["text", "tool_use", "tool_use"], sent


def test_messages_count_tokens(claude: anthropic.Anthropic) -> None:
    count = claude.messages.count_tokens(model=CLAUDE, messages=[{"role": "user", "content": "Bonjour"}])
    assert count.input_tokens == 42, count
    path, sent = FakeAnthropic.received[-1]
    assert path == "/v1/messages/count_tokens" and sent["model"] == "claude-sonnet-4-5", (path, sent)


def test_messages_translated_echo(claude: anthropic.Anthropic) -> None:
    # An openai-kind-like target (echo) behind the Messages API: translated both ways.
    message = claude.messages.create(
        model="echo/smoke", max_tokens=64, system="Repeat after me.",
        messages=[{"role": "user", "content": "hello from the anthropic sdk"}],
    )
    assert message.model == "echo/smoke", message
    assert [block.type for block in message.content] == ["text"], message
    assert message.content[0].text == "hello from the anthropic sdk", message
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 5, message
    with claude.messages.stream(
        model="echo/smoke", max_tokens=64, messages=[{"role": "user", "content": "streamed to claude"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "streamed to claude", text
    assert final.content[0].text == "streamed to claude" and final.stop_reason == "end_turn", final
    count = claude.messages.count_tokens(model="echo/smoke", messages=[{"role": "user", "content": "count me"}])
    assert count.input_tokens > 0, count


def test_messages_translated_gemini(claude: anthropic.Anthropic) -> None:
    expected = "Paris is the capital of France — about 2.1 million people live there. Note: 1 < 2 & café ☃."
    message = claude.messages.create(
        model="gem/gemini-2.5-flash", max_tokens=256, system="Answer in one sentence.",
        messages=[{"role": "user", "content": "Capital of France?"}],
    )
    assert message.content[0].text == expected, message
    _, _, sent = FakeGemini.received[-1]
    assert sent["systemInstruction"]["parts"][0]["text"] == "Answer in one sentence.", sent
    count = claude.messages.count_tokens(
        model="gem/gemini-2.5-flash", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert count.input_tokens > 0, count
    tools = [{"name": "get_weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}}}]
    question = {"role": "user", "content": "Weather and time in Paris?"}
    with claude.messages.stream(
        model="gem/gemini-2.5-flash", max_tokens=256, messages=[question], tools=tools
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use", final
    calls = [block for block in final.content if block.type == "tool_use"]
    assert [call.name for call in calls] == ["get_weather", "get_time"], final.content
    assert calls[0].input == {"city": "Paris", "unit": "celsius"}, calls[0]
    # The round trip: the results go back as tool results, translated to Gemini's function responses.
    results = [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"} for call in calls]
    answer = claude.messages.create(
        model="gem/gemini-2.5-flash", max_tokens=256, tools=tools,
        messages=[question, {"role": "assistant", "content": final.content}, {"role": "user", "content": results}],
    )
    assert answer.content[0].type == "text", answer
    _, _, sent = FakeGemini.received[-1]
    responses = [part for part in sent["contents"][-1]["parts"] if "functionResponse" in part]
    assert [r["functionResponse"]["name"] for r in responses] == ["get_weather", "get_time"], sent["contents"][-1]


def test_messages_output_config(claude: anthropic.Anthropic) -> None:
    """`output_config` toward an openai-kind target: the effort and a JSON schema the SDK sends
    become chat's reasoning_effort and strict response_format, and the answer is the JSON."""
    message = claude.messages.create(
        model="gpt/gpt-4o", max_tokens=64, messages=[{"role": "user", "content": "Weather in Paris?"}],
        output_config={"effort": "high", "format": {"type": "json_schema", "schema": WEATHER_FORMAT["schema"]}},
    )
    assert json.loads(message.content[0].text) == WEATHER_REPORT, message
    _, sent = FakeOpenAI.received[-1]
    assert sent["reasoning_effort"] == "high", sent
    assert sent["response_format"]["json_schema"]["schema"] == WEATHER_FORMAT["schema"], sent
    assert sent["response_format"]["json_schema"]["strict"] is True, sent


def test_messages_translated_openai(claude: anthropic.Anthropic) -> None:
    # An openai-kind target behind the Messages API, as Claude Code on GPT.
    whole = json.loads((OPENAI_FIXTURES / "completion.json").read_text())
    message = claude.messages.create(
        model="gpt/gpt-4o", max_tokens=64, system="Be brief.",
        messages=[{"role": "user", "content": "Hello?"}],
    )
    assert message.model == "gpt/gpt-4o", message
    # The fixture answers with tool calls: tool_use blocks, their inputs parsed.
    expected = [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                for c in whole["choices"][0]["message"]["tool_calls"]]
    got = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert got == expected, message
    assert message.stop_reason == "tool_use", message
    _, sent = FakeOpenAI.received[-1]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}, sent
    with claude.messages.stream(
        model="gpt/gpt-4o", max_tokens=64, messages=[{"role": "user", "content": "Hello?"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello, café ☃!", text
    assert final.usage.output_tokens == 4, final.usage
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    question = {"role": "user", "content": "Weather and time in Paris?"}
    with claude.messages.stream(model="gpt/gpt-4o", max_tokens=64, messages=[question], tools=tools) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use", final
    calls = [block for block in final.content if block.type == "tool_use"]
    assert [call.name for call in calls] == ["get_weather", "get_time"], final.content
    assert calls[0].input == {"city": "Paris"}, calls[0]
    results = [{"type": "tool_result", "tool_use_id": call.id, "content": "fine"} for call in calls]
    claude.messages.create(
        model="gpt/gpt-4o", max_tokens=64, tools=tools,
        messages=[question, {"role": "assistant", "content": final.content}, {"role": "user", "content": results}],
    )
    _, sent = FakeOpenAI.received[-1]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "tool"], sent["messages"]
    assert [c["id"] for c in sent["messages"][1]["tool_calls"]] == [call.id for call in calls], sent
    count = claude.messages.count_tokens(model="gpt/gpt-4o", messages=[question])
    assert count.input_tokens > 0, count


def test_messages_models(claude: anthropic.Anthropic) -> None:
    # The SDK pages through Anthropic's list shape on its own.
    models = list(claude.models.list(limit=1))
    ids = [model.id for model in models]
    assert CLAUDE in ids, ids
    assert len(ids) == len(set(ids)) > 1, ids
    assert all(model.type == "model" and model.created_at.year == 1970 for model in models), models


def test_messages_errors(base: str) -> None:
    stranger = anthropic.Anthropic(base_url=base, api_key="not-a-gateway-key", max_retries=0)
    try:
        stranger.messages.create(model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("a wrong key was let in")
    except anthropic.AuthenticationError as error:
        assert error.status_code == 401 and error.body["error"]["type"] == "authentication_error", error.body
    claude = anthropic.Anthropic(base_url=base, api_key=GATEWAY_KEY, max_retries=0)
    try:
        claude.messages.create(model="nowhere/x", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("an unknown model was served")
    except anthropic.NotFoundError as error:
        assert error.body["error"]["type"] == "not_found_error", error.body


def test_embeddings(client: openai.OpenAI) -> None:
    for model in ("gpt/text-embedding-3-small", "gem/gemini-embedding-001"):
        # The SDK asks for base64 unless told otherwise, and decodes it itself.
        one = client.embeddings.create(model=model, input="hello")
        assert one.model == model, one
        assert [d.embedding for d in one.data] == [vector("hello", 4)], (model, one)
        batch = client.embeddings.create(model=model, input=["a", "bb", "ccc"], dimensions=3)
        assert [d.index for d in batch.data] == [0, 1, 2], batch
        assert [d.embedding for d in batch.data] == [vector(t, 3) for t in ["a", "bb", "ccc"]], (model, batch)
        floats = client.embeddings.create(model=model, input="hello", encoding_format="float")
        assert floats.data[0].embedding == vector("hello", 4), (model, floats)
        assert floats.usage.prompt_tokens > 0, floats.usage
    path, sent = FakeOpenAI.received[-1]
    assert path == "/v1/embeddings" and sent["model"] == "text-embedding-3-small", (path, sent)


def test_responses_native(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt/gpt-5", input="Hello?", instructions="Be brief.")
    assert response.model == "gpt/gpt-5", response.model
    assert response.output_text == "Hi there", response
    assert response.usage is not None and response.usage.total_tokens == 7, response.usage
    _, sent = FakeOpenAI.received[-1]
    assert sent["model"] == "gpt-5" and sent["instructions"] == "Be brief.", sent
    with client.responses.stream(model="gpt/gpt-5", input="Hello?") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Hi there", deltas
    assert final.output_text == "Hi there" and final.model == "gpt/gpt-5", final
    report = client.responses.create(model="gpt/gpt-5", instructions="Answer in JSON.", input="Weather?",
                                     text={"format": WEATHER_FORMAT})
    assert json.loads(report.output_text) == WEATHER_REPORT, report
    _, sent = FakeOpenAI.received[-1]
    assert sent["text"] == {"format": WEATHER_FORMAT}, sent
    question = {"role": "user", "content": "Weather in Paris?"}
    called = client.responses.create(model="gpt/gpt-5", input=[question], tools=RESPONSES_TOOLS)
    calls = [item for item in called.output if item.type == "function_call"]
    assert [call.call_id for call in calls] == ["call_native"], called
    outputs = [{"type": "function_call_output", "call_id": "call_native", "output": "18C"}]
    history = [item.model_dump(exclude_none=True) for item in called.output]
    answer = client.responses.create(model="gpt/gpt-5", input=[question, *history, *outputs], tools=RESPONSES_TOOLS)
    assert answer.output_text == "Hi there", answer
    _, sent = FakeOpenAI.received[-1]
    assert sent["input"][-1] == outputs[0] and sent["tools"] == RESPONSES_TOOLS, sent


RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather in a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                                   "required": ["city"]}}]
WEATHER_FORMAT = {"type": "json_schema", "name": "weather_report", "strict": True, "schema": {
    "type": "object", "properties": {"city": {"type": "string"}, "temperature_c": {"type": "integer"}},
    "required": ["city", "temperature_c"], "additionalProperties": False}}


def check_responses(client: openai.OpenAI, model: str, sent, by: str = "call_id") -> None:
    """The Responses API through `model`, as an SDK user writes it: a whole answer with
    instructions and a json_schema format, a streamed text, and a function-tool round trip with
    the call's output sent back in `input`. `sent()` is what the upstream last received, as
    (instructions it got, the calls whose results it got, named by their `by`)."""
    response = client.responses.create(model=model, instructions="Answer in JSON.", input="Weather in Paris?",
                                       text={"format": WEATHER_FORMAT})
    assert response.object == "response" and response.status == "completed", response
    assert response.model == model, response.model
    assert json.loads(response.output_text) == WEATHER_REPORT, response
    assert response.usage is not None and response.usage.total_tokens > 0, response.usage
    instructions, _ = sent()
    assert "Answer in JSON." in instructions, instructions

    with client.responses.stream(model=model, input="Hello?") as stream:
        events = list(stream)
        final = stream.get_final_response()
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas and deltas == final.output_text, (deltas, final)
    assert [e.sequence_number for e in events] == list(range(len(events))), events
    assert events[0].type == "response.created" and events[-1].type == "response.completed", events
    assert final.model == model and final.status == "completed", final

    question = {"role": "user", "content": "Weather in Paris?"}
    with client.responses.stream(model=model, input=[question], tools=RESPONSES_TOOLS) as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather", final.output
    assert all(call.status == "completed" and isinstance(json.loads(call.arguments), dict) for call in calls), calls
    outputs = [{"type": "function_call_output", "call_id": call.call_id, "output": "18C"} for call in calls]
    history = [item.model_dump(exclude_none=True) for item in final.output]
    answer = client.responses.create(model=model, tools=RESPONSES_TOOLS, input=[question, *history, *outputs])
    assert answer.status == "completed" and answer.output, answer
    _, results = sent()
    assert results == [getattr(call, by) for call in calls], (results, calls)


def test_responses_keepalive(client: openai.OpenAI) -> None:
    """A translated stream whose model stops to think for longer than the gateway's keep_alive:
    OpenAI's own `keepalive` events fill the pause, numbered in sequence, and both the SDK's
    stream helper and its plain event stream read past them."""
    with client.responses.stream(model="chat/slow", input="Hello?") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert "keepalive" in kinds, kinds
    assert [e.sequence_number for e in events] == list(range(len(events))), events
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas and deltas == final.output_text, (deltas, final)
    plain = list(client.responses.create(model="chat/slow", input="Hello?", stream=True))
    assert "keepalive" in [e.type for e in plain], plain
    assert plain[-1].type == "response.completed", plain[-1]


def check_custom_tool(client: openai.OpenAI, model: str, sent) -> None:
    """A custom (freeform) tool, as Codex's apply_patch is, toward a chat target: its call comes
    back as a custom_tool_call with its input, and its output goes back as the call's result."""
    tools = [{"type": "custom", "name": "get_weather", "description": "The weather in a city, asked as free text."}]
    question = {"role": "user", "content": "Weather in Paris?"}
    with client.responses.stream(model=model, input=[question], tools=tools) as stream:
        events = list(stream)
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "custom_tool_call"]
    assert calls and calls[0].name == "get_weather" and calls[0].input, final.output
    done = [e for e in events if e.type == "response.custom_tool_call_input.done"]
    assert [e.input for e in done] == [call.input for call in calls], (done, calls)
    outputs = [{"type": "custom_tool_call_output", "call_id": call.call_id, "output": "18C"} for call in calls]
    history = [item.model_dump(exclude_none=True) for item in final.output]
    answer = client.responses.create(model=model, tools=tools, input=[question, *history, *outputs])
    assert answer.status == "completed" and answer.output, answer
    _, results = sent()
    assert results == [call.call_id for call in calls], (results, calls)


def test_responses_translated(client: openai.OpenAI) -> None:
    def chat_sent():
        _, body = FakeOpenAI.received[-1]
        system = [m["content"] for m in body["messages"] if m["role"] == "system"]
        return " ".join(system), [m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"]

    def claude_sent():
        _, body = FakeAnthropic.received[-1]
        system = body.get("system", "")
        text = system if isinstance(system, str) else " ".join(block["text"] for block in system)
        results = [block["tool_use_id"] for m in body["messages"] if isinstance(m["content"], list)
                   for block in m["content"] if block["type"] == "tool_result"]
        return text, results

    def gemini_sent():
        _, _, body = FakeGemini.received[-1]
        system = " ".join(part["text"] for part in body.get("systemInstruction", {}).get("parts", []))
        results = [part["functionResponse"]["name"] for c in body["contents"] for part in c["parts"]
                   if "functionResponse" in part]
        return system, results

    check_responses(client, "chat/gpt-4o", chat_sent)
    assert FakeOpenAI.received[-1][0] == "/v1/chat/completions", FakeOpenAI.received[-1]
    check_custom_tool(client, "chat/gpt-4o", chat_sent)
    function = FakeOpenAI.received[-1][1]["tools"][0]["function"]
    assert function["parameters"]["required"] == ["input"], function
    check_responses(client, CLAUDE, claude_sent)
    # Gemini answers by function name; the call's thought signature rides in its call_id and
    # goes back on the model's turn.
    check_responses(client, "gem/gemini-2.5-flash", gemini_sent, by="name")
    _, _, body = FakeGemini.received[-1]
    assert any("thoughtSignature" in part for c in body["contents"] for part in c["parts"]), body["contents"]


def test_errors(client: openai.OpenAI, base: str) -> None:
    try:
        client.chat.completions.create(model="nowhere/x", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("an unknown provider must fail")
    except openai.NotFoundError as error:
        assert error.code == "model_not_found", error
    try:
        client.chat.completions.create(model="echo/x", messages=[])
        raise AssertionError("empty messages must fail")
    except openai.BadRequestError as error:
        assert error.param == "messages", error
    anonymous = openai.OpenAI(base_url=f"{base}/v1", api_key="wrong-key", max_retries=0)
    try:
        anonymous.chat.completions.create(model="echo/x", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a wrong gateway key must fail")
    except openai.AuthenticationError as error:
        assert error.status_code == 401


def main() -> int:
    binary = sys.argv[1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gemini = start_fake_gemini()
    fake_anthropic = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAnthropic)
    threading.Thread(target=fake_anthropic.serve_forever, daemon=True).start()
    fake_openai = openai_server(native=True)
    chat_only = openai_server(native=False)
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "smoke.toml")
        with open(config, "w") as f:
            f.write('[auth]\nkeys = ["${SMOKE_GATEWAY_KEY}"]\n')
            f.write('[server]\nkeep_alive = "200ms"\n')
            f.write(
                "[providers.gem]\nkind = \"gemini\"\n"
                f"base_url = \"http://127.0.0.1:{gemini.server_address[1]}/v1beta\"\n"
                "api_key = \"fake-gemini-key\"\n"
            )
            f.write('[providers.claude]\nkind = "anthropic"\napi_key = "sk-ant-smoke"\nmodels = ["claude-sonnet-4-5"]\n')
            f.write(f'base_url = "http://127.0.0.1:{fake_anthropic.server_address[1]}"\n')
            f.write('[providers.gpt]\nkind = "openai"\napi_key = "sk-smoke-openai"\nresponses = "native"\n')
            f.write(f'base_url = "http://127.0.0.1:{fake_openai.server_address[1]}/v1"\n')
            f.write('[providers.chat]\nkind = "openai"\napi_key = "sk-smoke-chat"\nresponses = "chat"\n')
            f.write(f'base_url = "http://127.0.0.1:{chat_only.server_address[1]}/v1"\n')
        env = {"PATH": os.environ.get("PATH", ""), "SMOKE_GATEWAY_KEY": GATEWAY_KEY}
        process = subprocess.Popen(
            [binary, "serve", "--config", config, "--listen", f"127.0.0.1:{port}"],
            env=env,
            stderr=subprocess.PIPE,
        )
        passed = failed = 0
        try:
            wait_ready(base, process)
            client = openai.OpenAI(base_url=f"{base}/v1", api_key=GATEWAY_KEY, max_retries=0)
            # As Claude Code is pointed at a gateway: its root, without /v1.
            claude = anthropic.Anthropic(base_url=base, api_key=GATEWAY_KEY, max_retries=0)
            tests = [
                ("whole", lambda: test_whole(client)),
                ("stream", lambda: test_stream(client)),
                ("stream_helper", lambda: test_stream_helper(client)),
                ("errors", lambda: test_errors(client, base)),
                ("gemini_text", lambda: test_gemini_text(client)),
                ("gemini_tool_call", lambda: test_gemini_tool_call(client)),
                ("claude_whole", lambda: test_claude_whole(client)),
                ("embeddings", lambda: test_embeddings(client)),
                ("responses_native", lambda: test_responses_native(client)),
                ("responses_translated", lambda: test_responses_translated(client)),
                ("responses_keepalive", lambda: test_responses_keepalive(client)),
                ("claude_stream_tool_calls", lambda: test_claude_stream_tool_calls(client)),
                ("messages_whole", lambda: test_messages_whole(claude)),
                ("messages_stream_tool_round_trip", lambda: test_messages_stream_tool_round_trip(claude)),
                ("messages_count_tokens", lambda: test_messages_count_tokens(claude)),
                ("messages_translated_echo", lambda: test_messages_translated_echo(claude)),
                ("messages_translated_gemini", lambda: test_messages_translated_gemini(claude)),
                ("messages_translated_openai", lambda: test_messages_translated_openai(claude)),
                ("messages_output_config", lambda: test_messages_output_config(claude)),
                ("messages_models", lambda: test_messages_models(claude)),
                ("messages_errors", lambda: test_messages_errors(base)),
            ]
            for name, test in tests:
                try:
                    test()
                    passed += 1
                    print(f"sdk smoke {name} ... ok", flush=True)
                except Exception:
                    failed += 1
                    print(f"sdk smoke {name} ... FAILED", flush=True)
                    traceback.print_exc()
        finally:
            process.terminate()
            try:
                _, logs = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                _, logs = process.communicate()
            if failed or process.returncode not in (0, None):
                sys.stderr.write(logs.decode(errors="replace"))
        gemini.shutdown()
        print(f"sdk smoke: {passed} passed, {failed} failed", flush=True)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
