"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 (stdlib http.server, real HTTP).

Each POST to ``/v1/chat/completions`` consumes the next scripted :class:`Reply` (the last one repeats)
and is recorded with its arrival time (``time.monotonic()``), headers (names in any case) and JSON body.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: HTTP status, body (bytes, str or JSON-able), headers, delay before answering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Headers(dict):
    """Request headers; names match whatever their case (HTTP clients differ: the SDK's are lower case)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        super().__init__((name.lower(), value) for name, value in items)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return super().__contains__(str(name).lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass
class Recorded:
    at: float
    path: str
    headers: dict[str, str]
    body: Any


def completion(
    content: str, *, model: str = "gpt-4o-mini", prompt_tokens: int = 1200, completion_tokens: int = 300
) -> Reply:
    """A 200 chat completion whose message content is ``content``."""
    return Reply(
        200,
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def recommendations_reply(items: list[dict[str, Any]], **kwargs: Any) -> Reply:
    """A 200 completion whose content is ``{"recommendations": items}``."""
    return completion(json.dumps({"recommendations": items}), **kwargs)


def error_reply(status: int, message: str = "scripted error", headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "fake"}}, headers or {})


class FakeLLM:
    """Context manager: serve ``replies`` in order on an ephemeral loopback port."""

    def __init__(self, replies: Iterable[Reply]) -> None:
        self.replies = list(replies)
        if not self.replies:
            raise ValueError("script at least one reply")
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                with fake._lock:
                    headers = Headers(self.headers.items())
                    fake.requests.append(Recorded(time.monotonic(), self.path, headers, body))
                    index = min(len(fake.requests), len(fake.replies)) - 1
                    reply = fake.replies[index]
                if self.path.rstrip("/") != "/v1/chat/completions":
                    reply = error_reply(404, f"no route {self.path}")
                if reply.delay:
                    fake._stop.wait(reply.delay)
                payload = reply.body
                if isinstance(payload, str):
                    data = payload.encode()
                elif isinstance(payload, bytes):
                    data = payload
                else:
                    data = json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
