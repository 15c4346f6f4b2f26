"""One request at a time to a fresh gateway; its peak RSS growth over the request body's size.

The providers point at a closed port: the request is read, validated, translated and
serialized in full before the connection is refused, which is all the memory a request costs
before the provider answers. The openai kind (bytes passed through, only `model` replaced) is
the baseline every translating kind is compared with in the same run.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY = sys.argv[1]
OUT = "--out" in sys.argv[2:]

# (label, messages, padding per message): tiny messages are the worst case per byte; the last
# is over the 100,000-message cap that translating kinds enforce.
SHAPES = [
    ("100,000 tiny messages", 100_000, 0),
    ("100,000 messages of 100 bytes", 100_000, 100),
    ("100,000 messages of 300 bytes", 100_000, 270),
    ("10,000 messages of 3 KB", 10_000, 3000),
    ("700,000 tiny messages (over the cap)", 700_000, 0),
]
KINDS = ["openai", "anthropic", "gemini"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def body(kind, count, pad):
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"hi {i} " + "x" * pad}
        for i in range(count)
    ]
    return json.dumps({"model": f"{kind}/m", "messages": messages}, separators=(",", ":")).encode()


def measure(kind, payload):
    port = free_port()
    closed = free_port()
    config = f"""[server]
listen = "127.0.0.1:{port}"
[providers.{kind}]
kind = "{kind}"
base_url = "http://127.0.0.1:{closed}"
api_key = "bench-key-123"
"""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(config)
        path = f.name
    proc = subprocess.Popen([BINARY, "serve", "--config", path], stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        rest = status_kb(proc.pid, "VmRSS")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=payload,
            headers={"content-type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=60)
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
        peak = status_kb(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait()
        os.unlink(path)
    return status, (peak - rest) * 1024


def main():
    rows = []
    for label, count, pad in SHAPES:
        for kind in KINDS:
            payload = body(kind, count, pad)
            status, grown = measure(kind, payload)
            rows.append((label, kind, len(payload), status, grown))
            print(f"{label:40} {kind:10} body {len(payload)/1e6:6.1f} MB  HTTP {status}  "
                  f"grew {grown/1e6:7.1f} MB  {grown/len(payload):5.2f}x", flush=True)
    if OUT:
        lines = [
            "# Memory per request, as a multiple of its body",
            "",
            "`bench/amplify --out`: a fresh gateway per request, the provider's port closed, so the",
            "request is read, validated, translated and serialized before the connection fails.",
            "Growth is the peak RSS (`VmHWM`) less the resting RSS. The openai kind passes bytes",
            "through and is the baseline; HTTP 502 is the refused connection (the request was",
            "translated in full), 400 a refusal before translation.",
            "",
            "| conversation | kind | body | HTTP | peak growth | × body | × openai kind |",
            "|---|---|---|---|---|---|---|",
        ]
        base = {(r[0]): r[4] for r in rows if r[1] == "openai"}
        for label, kind, size, status, grown in rows:
            lines.append(
                f"| {label} | {kind} | {size/1e6:.1f} MB | {status} | {grown/1e6:.1f} MB | "
                f"{grown/size:.2f} | {grown/max(base[label],1):.2f} |"
            )
        with open("bench/AMPLIFICATION.md", "w") as f:
            f.write("\n".join(lines) + "\n")


main()
