"""A small OpenAI-compatible server on loopback: the one thin seam of the LLM tests (no model runs here).

It speaks the wire formats the official ``openai`` SDK parses — Chat Completions (with tool calls, ``n``,
streaming SSE with an optional usage chunk), Responses (with function calls, streaming events, and the
caller fields it echoes: ``user``, ``metadata``), embeddings (float or base64) and ``GET /v1/models`` — and
counts every request it answers, with its headers and body, so a test can say how many reached "upstream".

Answers are a pure function of the request, except that a sampled request (temperature above 0 or unset,
and no seed) gets a new sample number each time: ``sample 3`` — so k samples are k different answers.
A prompt containing ``please fail`` is answered 500. ``delay`` seconds pass before each answer, and
``event_delay`` seconds between the events of a stream.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


class OpenAIStub:
    def __init__(self, delay: float = 0.0, event_delay: float = 0.0) -> None:
        self.delay, self.event_delay = delay, event_delay
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._samples = itertools.count(1)
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> OpenAIStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stall per call)

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stub._record(self, {})
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "stub-1", "object": "model", "created": 0,
                                                                 "owned_by": "stub"}]})
                else:
                    self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                stub._record(self, body)
                if stub.delay:
                    time.sleep(stub.delay)
                status, payload, events = stub.answer(self.path.split("?")[0], body)
                if events is None:
                    self._json(status, payload)
                    return
                data = b"".join(events)
                self.send_response(200)
                self.send_header("content-type", "text/event-stream; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                for event in events:
                    self.wfile.write(event)
                    self.wfile.flush()
                    if stub.event_delay:
                        time.sleep(stub.event_delay)

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("x-request-id", f"req_{next(stub._ids)}")
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="openai-stub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # -- what reached upstream ---------------------------------------------------------------------------
    def _record(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.received.append(Received(handler.command, handler.path, dict(handler.headers.items()), body))

    def count(self, endpoint: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.received if r.path.split("?")[0].endswith(endpoint))

    def reset(self) -> None:
        with self._lock:
            self.received.clear()

    # -- answers ------------------------------------------------------------------------------------------
    def _sampled(self, body: dict[str, Any]) -> str:
        temperature = body.get("temperature", 1)
        if body.get("seed") is not None or temperature == 0:
            return ""
        return f" (sample {next(self._samples)})"

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, Any, list[bytes] | None]:
        prompt = self._prompt(body)
        if "please fail" in prompt:
            return 500, {"error": {"message": "the stub was asked to fail", "type": "server_error"}}, None
        if path.endswith("/chat/completions"):
            return self._chat(body, prompt)
        if path.endswith("/responses"):
            return self._responses(body, prompt)
        if path.endswith("/embeddings"):
            return 200, self._embeddings(body), None
        return 404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}}, None

    @staticmethod
    def _prompt(body: dict[str, Any]) -> str:
        if "messages" in body:
            return " ".join(_text_of(m.get("content")) for m in body["messages"] if isinstance(m, dict))
        given = body.get("input")
        if isinstance(given, list):
            return " ".join(_text_of(m.get("content")) if isinstance(m, dict) else str(m) for m in given)
        return str(given or "")

    def _reply(self, body: dict[str, Any], prompt: str) -> str:
        last = prompt.split(" ")[-6:]
        return f"echo from {body.get('model')}: {' '.join(last)}{self._sampled(body)}"

    @staticmethod
    def _usage(prompt: str, text: str) -> tuple[int, int]:
        return len(prompt.split()) + 3, len(text.split())

    def _tool_call(self, body: dict[str, Any], prompt: str) -> dict[str, Any] | None:
        tools = body.get("tools") or []
        messages = body.get("messages") or body.get("input") or []
        answered = isinstance(messages, list) and any(
            isinstance(m, dict) and (m.get("role") == "tool" or m.get("type") == "function_call_output")
            for m in messages)
        if not tools or body.get("tool_choice") == "none" or answered:
            return None
        tool = tools[0]
        name = tool.get("function", {}).get("name") or tool.get("name")
        return {"id": f"call_{hashlib.sha256(prompt.encode()).hexdigest()[:12]}", "name": name,
                "arguments": json.dumps({"query": prompt[-40:]})}

    def _chat(self, body: dict[str, Any], prompt: str) -> tuple[int, Any, list[bytes] | None]:
        model, cid, created = body.get("model"), f"chatcmpl-{next(self._ids)}", 1_700_000_000
        call = self._tool_call(body, prompt)
        texts = [self._reply(body, prompt) for _ in range(int(body.get("n") or 1))]
        p, c = self._usage(prompt, " ".join(texts))
        usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                 "prompt_tokens_details": {"cached_tokens": 0}}
        if not body.get("stream"):
            choices = []
            for i, text in enumerate(texts):
                message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
                if call:
                    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                        {"id": call["id"], "type": "function",
                         "function": {"name": call["name"], "arguments": call["arguments"]}}]}
                choices.append({"index": i, "message": message, "logprobs": None,
                                "finish_reason": "tool_calls" if call else "stop"})
            return 200, {"id": cid, "object": "chat.completion", "created": created, "model": model,
                         "choices": choices, "usage": usage, "system_fingerprint": "fp_stub"}, None

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            doc = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "system_fingerprint": "fp_stub",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
            return b"data: " + json.dumps(doc).encode() + b"\n\n"

        events = [chunk({"role": "assistant", "content": ""})]
        if call:
            events.append(chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                  "function": {"name": call["name"], "arguments": ""}}]}))
            events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
                       for part in (call["arguments"][:10], call["arguments"][10:])]
        else:
            events += [chunk({"content": word + " "}) for word in texts[0].split(" ")]
        events.append(chunk({}, "tool_calls" if call else "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            doc = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [], "usage": usage}
            events.append(b"data: " + json.dumps(doc).encode() + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return 200, None, events

    def _responses(self, body: dict[str, Any], prompt: str) -> tuple[int, Any, list[bytes] | None]:
        rid, model = f"resp_{next(self._ids)}", body.get("model")
        call = self._tool_call(body, prompt)
        text = self._reply(body, prompt)
        p, c = self._usage(prompt, text)
        if call:
            item: dict[str, Any] = {"type": "function_call", "id": f"fc_{rid}", "call_id": call["id"],
                                    "name": call["name"], "arguments": call["arguments"], "status": "completed"}
        else:
            item = {"type": "message", "id": f"msg_{rid}", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}
        response = {
            "id": rid, "object": "response", "created_at": 1_700_000_000, "status": "completed", "model": model,
            "output": [item], "parallel_tool_calls": True, "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []), "temperature": body.get("temperature", 1.0), "top_p": 1.0,
            "user": body.get("user"), "metadata": body.get("metadata") or {}, "error": None,
            "incomplete_details": None, "instructions": body.get("instructions"),
            "usage": {"input_tokens": p, "output_tokens": c, "total_tokens": p + c,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
        }
        if not body.get("stream"):
            return 200, response, None
        seq = itertools.count()

        def event(kind: str, **data: Any) -> bytes:
            doc = {"type": kind, "sequence_number": next(seq), **data}
            return f"event: {kind}\ndata: {json.dumps(doc)}\n\n".encode()

        started = {**response, "status": "in_progress", "output": [], "usage": None}
        events = [event("response.created", response=started)]
        if not call:
            events += [event("response.output_text.delta", item_id=item["id"], output_index=0, content_index=0,
                             delta=word + " ") for word in text.split(" ")]
        events.append(event("response.output_item.done", output_index=0, item=item))
        events.append(event("response.completed", response=response))
        return 200, None, events

    @staticmethod
    def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
        given = body.get("input")
        inputs = given if isinstance(given, list) else [given]
        data = []
        for i, text in enumerate(inputs):
            digest = hashlib.sha256(json.dumps(text).encode()).digest()
            vector = [b / 255 for b in digest[:8]]
            if body.get("encoding_format") == "base64":
                encoded: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            else:
                encoded = vector
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(len(json.dumps(t).split()) for t in inputs)
        return {"object": "list", "data": data, "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


# -- clients through the cache, as the tests (and the benchmark) make them ------------------------------------
API_KEY = "sk-proj-STUBKEY0123456789abcdefXYZ"  # a provider-shaped key: the secret the store must never hold
ORGANIZATION = "org-stubOrgId77aa"
PROJECT = "proj_stubProject99bb"


def _url(stub: OpenAIStub | str) -> str:
    return stub if isinstance(stub, str) else stub.base_url


def sdk_client(stub: OpenAIStub | str, transport: Any = None, **options: Any) -> Any:
    """An ``openai.OpenAI`` for the stub (or its base URL) whose HTTP client goes through ``transport``
    (default: a fresh CachingTransport with ``options``); no retries, so every upstream request is the one
    the test made."""
    import httpx
    import openai

    from lineage_core.llm import CachingTransport

    return openai.OpenAI(api_key=API_KEY, organization=ORGANIZATION, project=PROJECT, base_url=_url(stub),
                         max_retries=0, http_client=httpx.Client(transport=transport or CachingTransport(**options)))


def async_sdk_client(stub: OpenAIStub | str, **options: Any) -> Any:
    import httpx
    import openai

    from lineage_core.llm import AsyncCachingTransport

    return openai.AsyncOpenAI(api_key=API_KEY, organization=ORGANIZATION, project=PROJECT, base_url=_url(stub),
                              max_retries=0, http_client=httpx.AsyncClient(transport=AsyncCachingTransport(**options)))
