"""Streamed answers (SSE): stored whole when they end, replayed as the same chunks; an unfinished stream is
never stored. Sync and async clients of the openai SDK against the loopback stub."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from lineage_core.runtime import default_store

from .services.openai_stub import OpenAIStub, async_sdk_client, sdk_client

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "temperature": 0, "stream": True,
                        "messages": [{"role": "user", "content": "Count the primes below ten, briefly please"}]}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStub]:
    stub = OpenAIStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def stub(server: OpenAIStub) -> OpenAIStub:
    server.reset()
    return server


def raw_stream(client: Any, create: Any, **request: Any) -> tuple[bytes, str]:
    """The stream's bytes as the SDK receives them, and whether they were a hit."""
    with create.with_streaming_response.create(**request) as response:
        return b"".join(response.iter_bytes()), response.headers["x-lineage-cache"]


@pytest.mark.parametrize("case", ["chat", "chat with usage", "chat tool call", "responses"])
def test_a_replayed_stream_is_the_same_chunks(stub: OpenAIStub, case: str) -> None:
    client = sdk_client(stub)
    create, request = client.chat.completions, dict(CHAT)
    if case == "chat with usage":
        request["stream_options"] = {"include_usage": True}
    elif case == "chat tool call":
        request["tools"] = [TOOL]
    elif case == "responses":
        create, request = client.responses, {"model": "gpt-4o-mini", "input": "Name three primes", "temperature": 0,
                                              "stream": True}
    live, first = raw_stream(client, create, **request)
    replayed, second = raw_stream(client, create, **request)
    assert (first, second) == ("miss", "hit") and stub.count() == 1
    assert replayed == live and live.count(b"data:") >= 4
    events = [e.model_dump() for e in create.create(**request)]  # parsed by the SDK, a third time
    assert events == [e.model_dump() for e in create.create(**request)] and stub.count() == 1
    if case == "chat tool call":
        arguments = "".join(e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                            for e in events if e["choices"] and e["choices"][0]["delta"].get("tool_calls"))
        assert json.loads(arguments)["query"].endswith("briefly please")


def test_a_stream_records_its_usage_and_a_hit_its_savings(stub: OpenAIStub) -> None:
    client = sdk_client(stub)
    request = {**CHAT, "stream_options": {"include_usage": True}}
    for _ in range(2):
        list(client.chat.completions.create(**request))
    miss, hit = sorted(default_store().runs(job="llm.chat.completions"), key=lambda r: r["started_at"])
    assert miss["context"]["llm"]["stream"] is True and miss["context"]["llm"]["usage"]["output"] > 0
    assert hit["context"]["llm"]["saved"]["tokens"] == miss["context"]["llm"]["usage"]


def test_a_stream_closed_before_its_end_is_not_stored(stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stub, "event_delay", 0.05)  # the events arrive one by one: the caller can stop between
    client = sdk_client(stub)
    stream = client.chat.completions.create(**CHAT)
    next(iter(stream))
    stream.close()
    run = default_store().runs(job="llm.chat.completions")[0]
    assert run["status"] == "ABORTED" and "closed before its end" in run["error"]
    assert len(list(client.chat.completions.create(**CHAT))) > 3 and stub.count() == 2
    assert len(list(client.chat.completions.create(**CHAT))) > 3 and stub.count() == 2  # the whole one was stored


def test_async_streams_replay_the_same_chunks(stub: OpenAIStub) -> None:
    client = async_sdk_client(stub)

    async def once() -> list[dict[str, Any]]:
        return [chunk.model_dump() async for chunk in await client.chat.completions.create(**CHAT)]

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await once(), await once()

    live, replayed = asyncio.run(main())
    assert live == replayed and len(live) > 3 and stub.count() == 1
