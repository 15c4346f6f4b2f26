"""Checks asyncapi/switchyard.yaml against itself and against a running switchyard binary.

Usage: python tests/asyncapi/check.py path/to/switchyard [asyncapi/switchyard.yaml]

1. The document's structure (a JSON Schema of the AsyncAPI 2.6 parts it uses), every $ref
   resolves, every payload schema is a valid JSON Schema, every message example fits its payload.
2. A gateway with no config (echo only): a text stream with include_usage; a gateway with a
   config (a gateway key, a fake OpenAI-compatible upstream, short keep-alive): a tool-call
   stream, a relayed reasoning stream whose last chunk is bare (as in the ARK seed) and which
   ends without [DONE] after a finish_reason, with keep-alive comments while the upstream is
   silent, and a failure mid-stream; the Messages stream; the Responses stream relayed from a
   native fake and translated from the chat fake (tool calls, reasoning and text, a cut ending
   in `response.failed`). Every event is validated against the document's payload schemas;
   [DONE] exactly once at the end of a clean chat stream, never after an error.
"""

import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

import jsonschema
import yaml

GATEWAY_KEY = "sk-switchyard-asyncapi"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The parts of AsyncAPI 2.6 this document relies on, checked structurally (the npm parser, when
# installed, checks the whole specification).
STRUCTURE = {
    "type": "object",
    "required": ["asyncapi", "info", "channels", "components"],
    "properties": {
        "asyncapi": {"const": "2.6.0"},
        "id": {"type": "string", "pattern": "^[a-z]+:"},
        "info": {
            "type": "object",
            "required": ["title", "version", "description"],
            "properties": {"title": {"type": "string"}, "version": {"type": "string"}},
        },
        "servers": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["url", "protocol"],
                "properties": {"security": {"type": "array"}},
            },
        },
        "channels": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "required": ["subscribe"],
                "properties": {
                    "subscribe": {
                        "type": "object",
                        "required": ["operationId", "message"],
                        "properties": {
                            "message": {
                                "type": "object",
                                "required": ["oneOf"],
                                "properties": {
                                    "oneOf": {
                                        "type": "array",
                                        "items": {"type": "object", "required": ["$ref"]},
                                    }
                                },
                            }
                        },
                    }
                },
            },
        },
        "components": {
            "type": "object",
            "required": ["messages", "schemas", "securitySchemes"],
            "properties": {
                "messages": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["name", "payload", "contentType"],
                        "properties": {
                            "examples": {
                                "type": "array",
                                "items": {"type": "object", "required": ["payload"]},
                            }
                        },
                    },
                },
                "schemas": {"type": "object", "additionalProperties": {"type": "object"}},
                "securitySchemes": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "required": ["type"]},
                },
            },
        },
    },
    "patternProperties": {"^x-": {}, "^(defaultContentType|tags|externalDocs)$": {}},
    "additionalProperties": False,
}


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, fn) -> None:
        try:
            fn()
            self.passed += 1
            print(f"asyncapi {name} ... ok", flush=True)
        except Exception:
            self.failed += 1
            print(f"asyncapi {name} ... FAILED", flush=True)
            traceback.print_exc()


class Document:
    def __init__(self, path: str) -> None:
        with open(path) as f:
            self.doc = yaml.safe_load(f)

    def refs(self, node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from self.refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from self.refs(value)

    def resolve(self, ref: str):
        assert ref.startswith("#/"), ref
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def validator(self, message: str) -> jsonschema.Draft7Validator:
        # The whole document is the root resource, so `#/components/schemas/...` resolves.
        schema = dict(self.doc)
        schema["$ref"] = f"#/components/messages/{message}/payload"
        return jsonschema.Draft7Validator(schema)

    def validate(self, message: str, payload) -> None:
        errors = sorted(self.validator(message).iter_errors(payload), key=str)
        if errors:
            raise AssertionError(
                f"{message} rejects {json.dumps(payload)[:300]}: "
                + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
            )

    def check_structure(self) -> None:
        errors = list(jsonschema.Draft7Validator(STRUCTURE).iter_errors(self.doc))
        assert not errors, "; ".join(f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5])
        for ref in self.refs(self.doc):
            self.resolve(ref)
        for name, schema in self.doc["components"]["schemas"].items():
            jsonschema.Draft7Validator.check_schema(schema)
        ops = [c["subscribe"] for c in self.doc["channels"].values()]
        listed = {m["$ref"].rsplit("/", 1)[1] for op in ops for m in op["message"]["oneOf"]}
        assert listed == set(self.doc["components"]["messages"]), listed
        for scheme in self.doc["components"]["securitySchemes"].values():
            assert scheme["type"] == "http" and scheme["scheme"] == "bearer", scheme
        mappings = self.doc.get("x-seed-mappings", {})
        for seed in ("martian", "inkeep", "multimedia", "ark"):
            assert mappings.get(seed, {}).get("mapping"), f"no mapping for the {seed} seed"

    def check_examples(self) -> None:
        count = 0
        for name, message in self.doc["components"]["messages"].items():
            assert message.get("examples"), f"{name} has no example"
            for example in message["examples"]:
                self.validate(name, example["payload"])
                count += 1
        assert count >= 8, count


# ---- the fake OpenAI-compatible upstream -------------------------------------------------------

def sse(obj) -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"


def chunk(delta, finish=None, **extra):
    base = {"id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1767225600,
            "model": "upstream-model", "choices": [{"index": 0, "delta": delta,
                                                   "finish_reason": finish}]}
    base.update(extra)
    return base


class FakeUpstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
        model = body["model"]
        if self.path.endswith("/responses"):
            self.answer_responses(model)
            return
        usage = {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        events: list = []
        if model == "tools":
            events = [
                chunk({"role": "assistant", "content": None}),
                chunk({"tool_calls": [{"index": 0, "id": "call_abc123", "type": "function",
                                       "function": {"name": "get_weather", "arguments": ""}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
                chunk({"tool_calls": [{"index": 1, "id": "call_def456", "type": "function",
                                       "function": {"name": "get_time", "arguments": "{}"}}]}),
                chunk({}, "tool_calls"),
            ]
            if wants_usage:
                events.append({"id": "chatcmpl-up1", "object": "chat.completion.chunk",
                               "created": 1767225600, "model": "upstream-model",
                               "choices": [], "usage": usage})
            events.append(b"[DONE]")
        elif model == "reasoning":
            # Role first, then silence (keep-alives flow), reasoning, content, refusal, and an
            # ARK-style bare last chunk; the upstream closes without [DONE].
            self.wfile.write(b": upstream comment\n\n" + sse(chunk({"role": "assistant"})))
            self.wfile.flush()
            time.sleep(0.8)
            events = [
                chunk({"reasoning_content": "Thinking it over. ",
                       "reasoning_details": [{"type": "reasoning.text", "text": "Thinking it over. ",
                                              "signature": "sig-1", "format": "anthropic-claude-v1",
                                              "index": 0}]}),
                chunk({"content": "Hello"}),
                chunk({"refusal": ""}),
                {"choices": [{"delta": {}, "finish_reason": "stop"}]},
            ]
        elif model == "fail":
            events = [
                chunk({"role": "assistant", "content": ""}),
                chunk({"content": "partial answer"}),
                {"error": {"message": "the model crashed", "type": "server_error",
                           "param": None, "code": "internal_error"}},
            ]
        for event in events:
            self.wfile.write(sse(event))
            self.wfile.flush()
            time.sleep(0.01)

    def answer_responses(self, model: str) -> None:
        """A Responses API stream, as a server that speaks the API sends it; `fail` is cut
        after its first delta."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        response = {"id": "resp_1", "object": "response", "created_at": 1767225600,
                    "status": "in_progress", "model": "upstream-model", "output": []}
        message = {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": "Hello there", "annotations": []}]}
        events = [
            {"type": "response.created", "response": response},
            {"type": "response.in_progress", "response": response},
            {"type": "response.output_item.added", "output_index": 0,
             "item": {**message, "status": "in_progress", "content": []}},
            {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
             "content_index": 0, "delta": "Hello", "logprobs": []},
            {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
             "content_index": 0, "delta": " there", "logprobs": []},
            {"type": "response.output_item.done", "output_index": 0, "item": message},
            {"type": "response.completed", "response": {**response, "status": "completed",
             "output": [message], "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}}},
        ]
        if model == "fail":
            events = events[:4]
        for number, event in enumerate(events):
            data = json.dumps({**event, "sequence_number": number})
            self.wfile.write(f"event: {event['type']}\ndata: {data}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.01)

    def log_message(self, *args) -> None:
        pass


# ---- the gateway -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(binary: str, config: str | None, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    args = [binary, "serve", "--listen", f"127.0.0.1:{port}"]
    if config:
        args[2:2] = ["--config", config]
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"switchyard exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as answer:
                if answer.status == 200:
                    return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("switchyard did not become ready in 30 s")


def stream(port: int, body: dict, key: str | None = None):
    """POSTs a streaming request; returns (status, headers, events) where each event is
    ("comment", text) or ("data", text), in order."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    conn.request("POST", "/v1/chat/completions", json.dumps(body), headers)
    answer = conn.getresponse()
    raw = answer.read().decode()
    conn.close()
    events = []
    if answer.status != 200:
        return answer.status, answer.headers, raw
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        data = []
        for line in block.split("\n"):
            if line.startswith(":"):
                events.append(("comment", line[1:].strip()))
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
            elif line == ": keep-alive" and path == "/v1/responses":
                # The Responses stream's keep-alive is an SSE comment, which every client skips.
                events.append((":", None))
            elif line:
                raise AssertionError(f"unexpected SSE line {line!r}")
        if data:
            events.append(("data", "\n".join(data)))
    return answer.status, answer.headers, events


def check_events(doc: Document, events, served: str, *, clean: bool, usage: bool) -> dict:
    """Validates every event against the document; returns what it saw."""
    seen = {"chunks": [], "usage": [], "errors": [], "done": 0, "keepalive": 0}
    datas = [text for kind, text in events if kind == "data"]
    assert datas, "no data events"
    for kind, text in events:
        if kind == "comment":
            doc.validate("KeepAlive", text)
            seen["keepalive"] += 1
            continue
        if text == "[DONE]":
            doc.validate("StreamDone", text)
            seen["done"] += 1
            continue
        payload = json.loads(text)
        if "error" in payload:
            doc.validate("StreamError", payload)
            seen["errors"].append(payload)
        elif payload.get("choices") == [] and payload.get("usage"):
            doc.validate("ChatCompletionUsageChunk", payload)
            doc.validate("ChatCompletionChunk", payload)
            seen["usage"].append(payload)
        else:
            doc.validate("ChatCompletionChunk", payload)
            seen["chunks"].append(payload)
    chunks = seen["chunks"] + seen["usage"]
    assert chunks, "no chunks"
    assert len({(c["id"], c["created"]) for c in chunks}) == 1, "id/created vary within a stream"
    assert {c["model"] for c in chunks} == {served}, {c["model"] for c in chunks}
    if clean:
        assert seen["done"] == 1 and datas[-1] == "[DONE]", f"[DONE] count {seen['done']}, last {datas[-1]!r}"
        assert not seen["errors"], seen["errors"]
    else:
        assert seen["done"] == 0, "[DONE] after an error"
        assert len(seen["errors"]) == 1 and "error" in json.loads(datas[-1]), "error is not the last event"
    if usage:
        assert len(seen["usage"]) == 1, f"{len(seen['usage'])} usage chunks"
        assert datas[-2] == json.dumps(seen["usage"][0], separators=(",", ":")) or json.loads(datas[-2]) == seen["usage"][0], "usage chunk is not right before [DONE]"
    else:
        assert not seen["usage"], "usage sent though not asked for"
    finishes = [c["choices"][0].get("finish_reason") for c in seen["chunks"] if c["choices"]]
    if clean:
        assert finishes and finishes[-1] is not None, "no finish_reason on the last chunk"
    return seen


def stream_messages(port: int, body: dict, key: str | None = None, path: str = "/v1/messages?beta=true"):
    """POSTs a streaming request whose events are named (Messages, Responses); returns (status,
    headers, events) where each event is (its name, its data as JSON), in order."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    if key:
        headers["x-api-key"] = key
    conn.request("POST", path, json.dumps(body), headers)
    answer = conn.getresponse()
    raw = answer.read().decode()
    conn.close()
    if answer.status != 200:
        return answer.status, answer.headers, raw
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
            elif line == ": keep-alive" and path == "/v1/responses":
                # The Responses stream's keep-alive is an SSE comment, which every client skips.
                events.append((":", None))
            elif line:
                raise AssertionError(f"unexpected SSE line {line!r}")
        if data:
            assert name, f"an event without a name: {block!r}"
            events.append((name, json.loads("\n".join(data))))
    return answer.status, answer.headers, events


MESSAGE_EVENTS = {
    "message_start": "MessageStart",
    "content_block_start": "ContentBlockStart",
    "content_block_delta": "ContentBlockDelta",
    "content_block_stop": "ContentBlockStop",
    "message_delta": "MessageDelta",
    "message_stop": "MessageStop",
    "ping": "Ping",
    "error": "MessageStreamError",
}


def check_message_events(doc: Document, events, served: str, *, clean: bool) -> list:
    """Validates every event against the document, and their order; returns the blocks seen."""
    assert events and events[0][0] == "message_start", events[:1]
    assert events[0][1]["message"]["model"] == served, events[0]
    blocks, open_index = [], None
    for name, payload in events:
        doc.validate(MESSAGE_EVENTS[name], payload)
        assert payload["type"] == name, (name, payload)
        if name == "content_block_start":
            assert open_index is None and payload["index"] == len(blocks), (open_index, payload)
            open_index = payload["index"]
            blocks.append({"block": payload["content_block"], "deltas": []})
        elif name == "content_block_delta":
            assert payload["index"] == open_index, (open_index, payload)
            blocks[open_index]["deltas"].append(payload["delta"])
        elif name == "content_block_stop":
            assert payload["index"] == open_index, (open_index, payload)
            open_index = None
    names = [name for name, _ in events]
    if clean:
        assert names[-2:] == ["message_delta", "message_stop"], names[-3:]
        assert "error" not in names, names
    else:
        assert names[-1] == "error" and "message_stop" not in names, names
    return blocks


# The events the gateway writes itself when it translates a chat stream, by name.
RESPONSE_EVENTS = {
    **dict.fromkeys(["response.created", "response.in_progress", "response.completed",
                     "response.incomplete", "response.failed"], "ResponseLifecycle"),
    **dict.fromkeys(["response.output_item.added", "response.output_item.done"], "ResponseOutputItem"),
    **dict.fromkeys(["response.content_part.added", "response.content_part.done"], "ResponseContentPart"),
    "response.output_text.delta": "ResponseTextDelta",
    "response.output_text.done": "ResponseTextDone",
    **dict.fromkeys(["response.refusal.delta", "response.refusal.done"], "ResponseRefusal"),
    **dict.fromkeys(["response.function_call_arguments.delta", "response.function_call_arguments.done"],
                    "ResponseFunctionCallArguments"),
    **dict.fromkeys(["response.custom_tool_call_input.delta", "response.custom_tool_call_input.done"],
                    "ResponseCustomToolCallInput"),
    **dict.fromkeys(["response.reasoning_summary_part.added", "response.reasoning_summary_part.done"],
                    "ResponseReasoningSummaryPart"),
    **dict.fromkeys(["response.reasoning_summary_text.delta", "response.reasoning_summary_text.done"],
                    "ResponseReasoningSummaryText"),
    "error": "ResponseStreamError",
    "keepalive": "ResponseKeepAlive",
}


def check_response_events(doc: Document, events, served: str, *, clean: bool, translated: bool = False) -> list:
    """Validates every Responses event against the document (a relayed one as any event, a
    translated one against its own message), their numbering and their end; for a translated
    stream also that every item added is done, complete, and that the terminal response holds
    exactly the done items. Returns the done items."""
    items: dict = {}
    for number, (name, payload) in enumerate(events):
        if translated:
            doc.validate(RESPONSE_EVENTS[name], payload)
        else:
            doc.validate("ResponseStreamError" if name == "error" else "ResponseStreamEvent", payload)
        assert payload["type"] == name, (name, payload)
        assert payload["sequence_number"] == number, (number, payload)
        if "response" in payload:
            assert payload["response"]["model"] == served, payload
        if name == "response.output_item.added":
            assert payload["output_index"] == len(items), (items, payload)
            items[payload["output_index"]] = None
        elif name == "response.output_item.done":
            assert items[payload["output_index"]] is None, payload
            items[payload["output_index"]] = payload["item"]
    names = [name for name, _ in events]
    assert names[0] == "response.created", names
    if clean:
        assert names[-1] in ("response.completed", "response.incomplete") and "error" not in names, names
        if translated:
            assert None not in items.values(), items
            assert events[-1][1]["response"]["output"] == [items[i] for i in range(len(items))], events[-1]
    else:
        assert names[-2:] == ["error", "response.failed"] and "response.completed" not in names, names
        failed = events[-1][1]["response"]
        assert failed["status"] == "failed" and failed["error"]["message"], failed
        assert failed["id"] == events[0][1]["response"]["id"], failed
    return [items[i] for i in range(len(items))]


def check_headers(headers, served: str) -> None:
    assert headers["content-type"].startswith("text/event-stream"), headers["content-type"]
    assert headers["cache-control"] == "no-cache", headers["cache-control"]
    assert headers["x-accel-buffering"] == "no"
    assert headers["x-request-id"]
    assert headers["x-switchyard-target"] == served, headers["x-switchyard-target"]


def main() -> int:
    binary = sys.argv[1]
    path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "asyncapi", "switchyard.yaml")
    results = Results()
    doc = Document(path)
    results.check("document_structure", doc.check_structure)
    results.check("document_examples", doc.check_examples)

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeUpstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    processes = []
    try:
        env = {"PATH": os.environ.get("PATH", ""), "ASYNCAPI_GATEWAY_KEY": GATEWAY_KEY}
        echo, echo_port = start_gateway(binary, None, env)
        processes.append(echo)

        def echo_text_usage():
            status, headers, events = stream(echo_port, {
                "model": "echo/asyncapi", "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "hello from the asyncapi check"}]})
            assert status == 200, (status, events)
            check_headers(headers, "echo/asyncapi")
            seen = check_events(doc, events, "echo/asyncapi", clean=True, usage=True)
            text = "".join(c["choices"][0]["delta"].get("content") or "" for c in seen["chunks"])
            assert text == "hello from the asyncapi check", text
            assert seen["chunks"][0]["choices"][0]["delta"].get("role") == "assistant"

        def echo_text_no_usage():
            status, _, events = stream(echo_port, {
                "model": "echo/asyncapi", "stream": True,
                "messages": [{"role": "user", "content": "no usage please"}]})
            assert status == 200, (status, events)
            check_events(doc, events, "echo/asyncapi", clean=True, usage=False)

        def echo_messages_stream():
            status, headers, events = stream_messages(echo_port, {
                "model": "echo/asyncapi", "max_tokens": 64, "stream": True,
                "messages": [{"role": "user", "content": "hello from the messages check"}]})
            assert status == 200, (status, events)
            check_headers(headers, "echo/asyncapi")
            blocks = check_message_events(doc, events, "echo/asyncapi", clean=True)
            text = "".join(d.get("text", "") for b in blocks for d in b["deltas"])
            assert text == "hello from the messages check", text

        results.check("echo_text_stream_with_usage", echo_text_usage)
        results.check("echo_messages_stream", echo_messages_stream)
        results.check("echo_text_stream_without_usage", echo_text_no_usage)

        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "asyncapi.toml")
            with open(config, "w") as f:
                f.write('[server]\nkeep_alive = "100ms"\nstream_hold_back = "50ms"\n')
                f.write('[auth]\nkeys = ["${ASYNCAPI_GATEWAY_KEY}"]\n')
                f.write('[providers.up]\nkind = "openai"\napi_key = "sk-fake-upstream"\nresponses = "native"\n')
                f.write(f'base_url = "http://127.0.0.1:{upstream.server_address[1]}/v1"\n')
                # The same upstream as a chat-only server: the Responses API is translated.
                f.write('[providers.chat]\nkind = "openai"\napi_key = "sk-fake-upstream"\n')
                f.write(f'base_url = "http://127.0.0.1:{upstream.server_address[1]}/v1"\n')
            gateway, port = start_gateway(binary, config, env)
            processes.append(gateway)

            def bearer_required():
                status, _, body = stream(port, {"model": "up/tools", "stream": True,
                                                "messages": [{"role": "user", "content": "x"}]})
                assert status == 401, status
                error = json.loads(body)
                assert error["error"]["code"] == "invalid_api_key", error
                doc.validate("StreamError", error)  # the same OpenAI error body

            def tool_calls():
                status, headers, events = stream(port, {
                    "model": "up/tools", "stream": True, "stream_options": {"include_usage": True},
                    "messages": [{"role": "user", "content": "weather in Paris?"}],
                    "tools": [{"type": "function", "function": {"name": "get_weather",
                                                                "parameters": {"type": "object"}}}]},
                    GATEWAY_KEY)
                assert status == 200, (status, events)
                check_headers(headers, "up/tools")
                seen = check_events(doc, events, "up/tools", clean=True, usage=True)
                calls: dict = {}
                for c in seen["chunks"]:
                    for call in c["choices"][0]["delta"].get("tool_calls") or []:
                        entry = calls.setdefault(call["index"], {"args": ""})
                        if "id" in call:
                            entry.update(id=call["id"], type=call["type"], name=call["function"]["name"])
                        entry["args"] += call["function"].get("arguments") or ""
                assert calls[0] == {"id": "call_abc123", "type": "function", "name": "get_weather",
                                    "args": '{"city":"Paris"}'}, calls
                assert calls[1]["name"] == "get_time", calls
                assert seen["chunks"][-1]["choices"][0]["finish_reason"] == "tool_calls"
                assert seen["usage"][0]["usage"]["total_tokens"] == 16

            def reasoning_bare_last_chunk_keep_alive():
                status, _, events = stream(port, {
                    "model": "up/reasoning", "stream": True,
                    "messages": [{"role": "user", "content": "think"}]}, GATEWAY_KEY)
                assert status == 200, (status, events)
                seen = check_events(doc, events, "up/reasoning", clean=True, usage=False)
                assert seen["keepalive"] >= 1, "no keep-alive comment while the upstream was silent"
                assert all(text == "keep-alive" for kind, text in events if kind == "comment"), \
                    "an upstream comment was relayed"
                deltas = [c["choices"][0]["delta"] for c in seen["chunks"]]
                assert any(d.get("reasoning_content") for d in deltas)
                assert any(d.get("reasoning_details") for d in deltas)
                last = seen["chunks"][-1]
                assert last["object"] == "chat.completion.chunk" and last["id"] and last["created"]
                assert last["choices"][0]["finish_reason"] == "stop"

            def failure_mid_stream():
                status, _, events = stream(port, {
                    "model": "up/fail", "stream": True,
                    "messages": [{"role": "user", "content": "fail please"}]}, GATEWAY_KEY)
                assert status == 200, (status, events)
                seen = check_events(doc, events, "up/fail", clean=False, usage=False)
                assert any((c["choices"][0]["delta"].get("content") or "") == "partial answer"
                           for c in seen["chunks"]), "content before the error was not relayed"
                error = seen["errors"][0]["error"]
                assert "the model crashed" in error["message"], error

            def messages_tool_use():
                status, _, events = stream_messages(port, {
                    "model": "up/tools", "max_tokens": 64, "stream": True,
                    "messages": [{"role": "user", "content": "weather in Paris?"}],
                    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]},
                    GATEWAY_KEY)
                assert status == 200, (status, events)
                blocks = check_message_events(doc, events, "up/tools", clean=True)
                uses = [b for b in blocks if b["block"]["type"] == "tool_use"]
                assert [u["block"]["name"] for u in uses] == ["get_weather", "get_time"], uses
                args = "".join(d["partial_json"] for d in uses[0]["deltas"])
                assert json.loads(args) == {"city": "Paris"}, args
                assert events[-2][1]["delta"]["stop_reason"] == "tool_use", events[-2]

            def messages_failure_mid_stream():
                status, _, events = stream_messages(port, {
                    "model": "up/fail", "max_tokens": 64, "stream": True,
                    "messages": [{"role": "user", "content": "fail please"}]}, GATEWAY_KEY)
                assert status == 200, (status, events)
                check_message_events(doc, events, "up/fail", clean=False)
                assert "the model crashed" in events[-1][1]["error"]["message"], events[-1]

            def responses_stream():
                status, headers, events = stream_messages(
                    port, {"model": "up/text", "input": "hi", "stream": True}, GATEWAY_KEY, "/v1/responses")
                assert status == 200, (status, events)
                check_headers(headers, "up/text")
                check_response_events(doc, events, "up/text", clean=True)
                text = "".join(e["delta"] for n, e in events if n == "response.output_text.delta")
                assert text == "Hello there", text

            def responses_cut():
                status, _, events = stream_messages(
                    port, {"model": "up/fail", "input": "hi", "stream": True}, GATEWAY_KEY, "/v1/responses")
                assert status == 200, (status, events)
                check_response_events(doc, events, "up/fail", clean=False)

            def responses_translated_tools():
                status, headers, events = stream_messages(port, {
                    "model": "chat/tools", "input": "weather in Paris?", "stream": True,
                    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]},
                    GATEWAY_KEY, "/v1/responses")
                assert status == 200, (status, events)
                check_headers(headers, "chat/tools")
                items = check_response_events(doc, events, "chat/tools", clean=True, translated=True)
                assert [(i["type"], i["call_id"], i["name"]) for i in items] == [
                    ("function_call", "call_abc123", "get_weather"), ("function_call", "call_def456", "get_time")], items
                assert json.loads(items[0]["arguments"]) == {"city": "Paris"}, items
                assert events[-1][1]["response"]["usage"]["total_tokens"] == 16, events[-1]

            def responses_translated_custom_tool():
                # Codex's freeform apply_patch, say: a custom tool goes to chat as a function of
                # one string; the fake calls it with other arguments, kept whole as the input.
                status, _, events = stream_messages(port, {
                    "model": "chat/tools", "input": "weather in Paris?", "stream": True,
                    "tools": [{"type": "custom", "name": "get_weather", "description": "Weather.",
                               "format": {"type": "grammar", "syntax": "regex", "definition": ".*"}},
                              {"type": "function", "name": "get_time", "parameters": {"type": "object"}}]},
                    GATEWAY_KEY, "/v1/responses")
                assert status == 200, (status, events)
                items = check_response_events(doc, events, "chat/tools", clean=True, translated=True)
                assert [(i["type"], i["call_id"], i["name"]) for i in items] == [
                    ("custom_tool_call", "call_abc123", "get_weather"),
                    ("function_call", "call_def456", "get_time")], items
                assert json.loads(items[0]["input"]) == {"city": "Paris"}, items
                names = [name for name, _ in events]
                assert "response.custom_tool_call_input.done" in names, names
                assert names.count("response.function_call_arguments.done") == 1, names

            def responses_translated_reasoning():
                status, _, events = stream_messages(port, {
                    "model": "chat/reasoning", "input": "think", "stream": True}, GATEWAY_KEY, "/v1/responses")
                assert status == 200, (status, events)
                # Once response.created is out, OpenAI's keepalive events (Codex counts no
                # comments), numbered in sequence with the events after them.
                assert "keepalive" in [name for name, _ in events], "no keepalive while the upstream was silent"
                assert (":", None) not in events, events
                items = check_response_events(doc, events, "chat/reasoning", clean=True, translated=True)
                assert [i["type"] for i in items] == ["reasoning", "message"], items
                assert items[0]["summary"][0]["text"] == "Thinking it over. ", items
                assert items[1]["content"][0]["text"] == "Hello", items

            def responses_translated_cut():
                status, _, events = stream_messages(port, {
                    "model": "chat/fail", "input": "fail please", "stream": True}, GATEWAY_KEY, "/v1/responses")
                assert status == 200, (status, events)
                check_response_events(doc, events, "chat/fail", clean=False, translated=True)
                assert "the model crashed" in events[-1][1]["response"]["error"]["message"], events[-1]

            results.check("responses_translated_tool_calls", responses_translated_tools)
            results.check("responses_translated_custom_tool", responses_translated_custom_tool)
            results.check("responses_translated_reasoning_and_text", responses_translated_reasoning)
            results.check("responses_translated_cut_ends_with_response_failed", responses_translated_cut)
            results.check("bearer_required", bearer_required)
            results.check("responses_stream", responses_stream)
            results.check("responses_cut_ends_with_an_error_event_and_response_failed", responses_cut)
            results.check("messages_tool_use_stream", messages_tool_use)
            results.check("messages_error_mid_stream", messages_failure_mid_stream)
            results.check("tool_call_stream_with_usage", tool_calls)
            results.check("reasoning_stream_bare_last_chunk_keep_alive", reasoning_bare_last_chunk_keep_alive)
            results.check("error_mid_stream_without_done", failure_mid_stream)
    except Exception:
        results.failed += 1
        traceback.print_exc()
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        upstream.shutdown()
    print(f"asyncapi checks: {results.passed} passed, {results.failed} failed", flush=True)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
