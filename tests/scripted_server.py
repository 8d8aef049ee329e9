"""A real OpenAI-compatible HTTP server on 127.0.0.1 that replays scripted replies.

Used by the tests and ``bench/generation.py`` in place of a hosted LLM: the openai client talks real HTTP to
it, so retries, timeouts, JSON mode and error handling are exercised end to end. Scripted replies are
consumed in order; after the script runs out, a responder function answers (by default a deterministic
extractor that copies entities from the prompt's text block, so answers validate).

Run standalone: ``python -m tests.scripted_server --port 8765 --latency 0.2``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: int = 200
    content: str | None = None
    finish_reason: str = "stop"
    delay_s: float = 0.0
    headers: dict[str, str] = Field(default_factory=dict)
    empty_choices: bool = False
    raw_body: str | None = None
    """Send this body verbatim (e.g. an error JSON)."""
    top_logprobs: dict[str, float] | None = None
    """Alternatives of the first answer token, sent as OpenAI chat logprobs when the request asks for them."""


_BLOCK = re.compile(r"(?:<文本>|<text>)\n(.*?)\n(?:</文本>|</text>)", re.S)


def text_block(request: dict[str, Any]) -> str:
    """The delimited input text of the first user message of a chat request."""
    for m in request.get("messages", []):
        if m.get("role") == "user" and (found := _BLOCK.search(m.get("content", ""))):
            return found.group(1)
    return ""


def copy_extractor(relation: str) -> Callable[[dict[str, Any]], Reply]:
    """Answer every request with a valid triple built from the text itself (head = first 2 characters, tail
    = characters 2..4) under ``relation``; CACRE prompts get one anchor, positive and negative."""

    def respond(request: dict[str, Any]) -> Reply:
        text = text_block(request)
        head, tail = (text[:2] or "甲乙"), (text[2:4] or "丙丁")
        t = {"head": head, "relation": relation, "tail": tail}
        prompt = request["messages"][-1]["content"]
        if "anchors" in prompt:
            body = {
                "anchors": [t],
                "positives": [{**t, "relation": relation + "者"}],
                "negatives": [{"head": tail, "relation": relation, "tail": head}],
            }
        else:
            body = {"triples": [t]}
        return Reply(content=json.dumps(body, ensure_ascii=False))

    return respond


class ScriptedServer:
    """Threaded HTTP server; use as a context manager. ``url`` is the OpenAI base URL (``.../v1``)."""

    def __init__(
        self,
        script: list[Reply] | None = None,
        responder: Callable[[dict[str, Any]], Reply] | None = None,
        latency_s: float = 0.0,
        port: int = 0,
    ) -> None:
        self.script: deque[Reply] = deque(script or [])
        self.responder = responder or copy_extractor("作者")
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small writes + delayed ACK would add ~40 ms per reply

            def log_message(self, *args: Any) -> None:  # silence per-request logging
                pass

            def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self._headers_buffer.append(b"\r\n" + data)  # headers and body in one send
                try:
                    self.flush_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}))
                else:
                    self._send(404, json.dumps({"error": {"message": "not found"}}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    request = json.loads(raw)
                except ValueError:
                    request = None
                if not isinstance(request, dict) or "messages" not in request:
                    # A client killed mid-request (bench.generation's SIGKILLs) leaves a short body: answer 400
                    # as a real server would, instead of a responder traceback in the benchmark's log.
                    self._send(400, json.dumps({"error": {"message": "bad request: no JSON body with messages"}}))
                    return
                with server._lock:
                    server.requests.append(request)
                    server.auth_headers.append(self.headers.get("Authorization", ""))
                    reply = server.script.popleft() if server.script else None
                if reply is None:
                    reply = server.responder(request)
                delay = reply.delay_s + server.latency_s
                if delay:
                    time.sleep(delay)
                if reply.raw_body is not None or reply.status != 200:
                    body = reply.raw_body or json.dumps({"error": {"message": f"scripted {reply.status}"}})
                    self._send(reply.status, body, reply.headers)
                    return
                content = reply.content or ""
                choices = (
                    []
                    if reply.empty_choices
                    else [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": reply.finish_reason,
                            "logprobs": (
                                {
                                    "content": [
                                        {
                                            "token": content[:1],
                                            "logprob": max(reply.top_logprobs.values()),
                                            "bytes": None,
                                            "top_logprobs": [
                                                {"token": t, "logprob": lp, "bytes": None}
                                                for t, lp in reply.top_logprobs.items()
                                            ],
                                        }
                                    ]
                                }
                                if reply.top_logprobs and request.get("logprobs")
                                else None
                            ),
                        }
                    ]
                )
                body = {
                    "id": f"chatcmpl-{len(server.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", "scripted"),
                    "choices": choices,
                    "usage": {
                        "prompt_tokens": sum(len(m.get("content", "")) for m in request.get("messages", [])),
                        "completion_tokens": len(content),
                        "total_tokens": 0,
                    },
                }
                self._send(200, json.dumps(body, ensure_ascii=False), reply.headers)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 refuses bursts of concurrent clients

            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                if not isinstance(sys.exc_info()[1], ConnectionError):  # clients killed mid-request are expected
                    super().handle_error(request, client_address)

        self._httpd = Server(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    ap.add_argument("--relation", default="作者", help="relation the copy extractor answers with")
    args = ap.parse_args()
    srv = ScriptedServer(responder=copy_extractor(args.relation), latency_s=args.latency, port=args.port)
    print(srv.url, flush=True)
    srv._httpd.serve_forever()


if __name__ == "__main__":
    main()
