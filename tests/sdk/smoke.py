"""Smoke test with the official `openai` Python SDK against a running switchyard binary.

Usage: python tests/sdk/smoke.py path/to/switchyard
Starts the gateway on a free loopback port with a gateway key, then uses the SDK the way a user
would: base_url pointed at the gateway, one whole and one streamed completion, and an error.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

import openai

GATEWAY_KEY = "sk-switchyard-smoke"


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
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "smoke.toml")
        with open(config, "w") as f:
            f.write('[auth]\nkeys = ["${SMOKE_GATEWAY_KEY}"]\n')
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
            tests = [
                ("whole", lambda: test_whole(client)),
                ("stream", lambda: test_stream(client)),
                ("stream_helper", lambda: test_stream_helper(client)),
                ("errors", lambda: test_errors(client, base)),
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
        print(f"sdk smoke: {passed} passed, {failed} failed", flush=True)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
