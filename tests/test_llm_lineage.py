"""Where an LLM call sits in the lineage and what its events say: ``@cached`` names its computing step in the run
context (``run_context(step=…)``), so a call is a child of the step on the step's thread and on any thread that
copies the context (``contextvars.copy_context()``), and a top-level run from a thread that does not; each call's
terminal event carries the ``lineage_llm`` run facet (model, tokens, latency, cost; on a hit what it saved),
valid against its schema, and never the prompt."""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lineage_core import cached, explain
from lineage_core.openlineage.records import run_events
from lineage_core.runtime import default_store

from .services.olspec import check_event, spec_registry
from .services.openai_stub import OpenAIStub, sdk_client

QUESTION = "What is 17 * 3? Answer with the number."


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStub]:
    stub = OpenAIStub().start()
    yield stub
    stub.stop()


def ask(client: Any, question: str = QUESTION) -> str:
    answer = client.chat.completions.create(model="gpt-4o-mini", temperature=0,
                                            messages=[{"role": "user", "content": question}])
    return str(answer.choices[0].message.content)


def calls() -> list[dict[str, Any]]:
    return sorted(default_store().runs(job="llm.chat.completions"), key=lambda r: r["started_at"])


def test_a_call_from_a_thread_that_copies_the_context_is_a_child_of_the_step(server: OpenAIStub) -> None:
    client = sdk_client(server)

    @cached(name="t.fan_out", exclude=["c"])
    def fan_out(c: Any, questions: list[str]) -> list[str]:
        context = contextvars.copy_context()
        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(lambda q: context.copy().run(ask, c, q), questions))

    fan_out(client, ["What is 1 + 1?", "What is 2 + 2?"])
    step = explain(fan_out).run_id
    runs = calls()
    assert len(runs) == 2 and all(r["context"]["parent"]["run_id"] == step for r in runs)
    assert all(r["context"]["parent"]["name"] == "t.fan_out" for r in runs)
    assert "step" not in json.dumps([r["context"] for r in runs])  # the call's context names its parent only


def test_a_call_from_a_bare_thread_is_a_top_level_run(server: OpenAIStub) -> None:
    client = sdk_client(server)

    @cached(name="t.bare", exclude=["c"])
    def bare(c: Any) -> str:
        out: list[str] = []
        worker = threading.Thread(target=lambda: out.append(ask(c, "What is 3 + 3?")))  # no context copied
        worker.start()
        worker.join()
        return out[0]

    bare(client)
    (run,) = calls()
    assert "parent" not in run["context"]


def test_every_call_event_carries_the_llm_facet_valid_and_without_the_prompt(server: OpenAIStub) -> None:
    client = sdk_client(server)
    ask(client)
    ask(client)
    miss, hit = calls()
    registry = spec_registry()
    for run in (miss, hit):
        events = run_events(default_store(), run["id"])
        for event in events:
            check_event(registry, event)
            assert QUESTION not in json.dumps(event) and "17 * 3" not in json.dumps(event)
        assert "lineage_llm" not in events[0]["run"]["facets"] or len(events) == 1  # terminal events only
    sent = run_events(default_store(), miss["id"])[-1]["run"]["facets"]["lineage_llm"]
    usage = miss["context"]["llm"]["usage"]
    assert sent["kind"] == "chat.completions" and sent["model"] == "gpt-4o-mini" and sent["stream"] is False
    assert sent["usage"] == {"input": usage["input"], "output": usage["output"], "total": usage["total"],
                             "cachedInput": usage["cached_input"]}
    assert sent["costUsd"] == miss["context"]["llm"]["cost_usd"] > 0 and "saved" not in sent
    replayed = run_events(default_store(), hit["id"])[-1]["run"]["facets"]["lineage_llm"]
    assert replayed.get("usage") is None and replayed["costUsd"] == 0  # nothing was sent (null fields left out)
    assert replayed["saved"] == {"latencySeconds": miss["context"]["llm"]["latency_s"], "tokens": sent["usage"],
                                 "costUsd": sent["costUsd"]}
