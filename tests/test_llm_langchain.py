"""LineageLLMCache as LangChain's cache (``set_llm_cache``) with langchain_core's own fake chat models: hits
in-process and across processes, field-level miss reasons, the sampling policy, 16 concurrent writers of one
prompt, clear(), and the async path."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration

from lineage_core.llm import LineageLLMCache
from lineage_core.runtime import default_store

ROOT = Path(__file__).resolve().parents[1]
JOB = "llm.langchain"


@pytest.fixture
def cache() -> Iterator[LineageLLMCache]:
    c = LineageLLMCache()
    set_llm_cache(c)
    yield c
    set_llm_cache(None)


def model(*responses: str) -> FakeListChatModel:
    return FakeListChatModel(responses=list(responses) or ["forty-two"])


def test_the_same_prompt_twice_is_one_model_call(cache: LineageLLMCache) -> None:
    m = model("first", "second")
    assert m.invoke("What is 6 * 7?").content == "first"
    assert m.invoke("What is 6 * 7?").content == "first" and m.i == 1  # the model was called once
    assert m.invoke("What is 6 * 8?").content == "second"
    runs = sorted(default_store().runs(job=JOB), key=lambda r: r["started_at"])
    assert [r["status"] for r in runs] == ["COMPLETED", "CACHED", "COMPLETED"]
    assert runs[1]["source_run_id"] == runs[0]["id"] and runs[1]["context"]["llm"]["saved"]["latency_s"] >= 0


def test_a_changed_parameter_is_a_miss_that_names_it(cache: LineageLLMCache) -> None:
    m = model("a", "b", "c")
    m.invoke("hello", temperature=0, seed=1)
    m.invoke("hello", temperature=0.7, seed=1)
    m.invoke("hello", temperature=0.7, seed=1, stop=["\n"])
    runs = sorted(default_store().runs(job=JOB), key=lambda r: r["started_at"])
    assert [r["reasons"] for r in runs[1:]] == [["temperature 0 → 0.7"], ["stop ['\\n'] added"]]


def test_sampled_calls_follow_the_policy(cache: LineageLLMCache) -> None:
    m = model("s1", "s2", "s3", "s4")
    assert [m.invoke("draw", temperature=0.9).content for _ in range(2)] == ["s1", "s2"]  # default: not cached
    set_llm_cache(LineageLLMCache(llm_cache="sample"))
    from lineage_core.llm import sampling

    with sampling():
        drawn = [m.invoke("draw", temperature=0.9).content for _ in range(2)]
    with sampling():
        again = [m.invoke("draw", temperature=0.9).content for _ in range(2)]
    assert drawn == ["s3", "s4"] and again == drawn and m.i == 0  # 4 model calls in all


def test_sixteen_concurrent_writers_of_one_prompt_raise_nothing(cache: LineageLLMCache) -> None:
    prompt, llm_string = "the same prompt", model()._get_llm_string()

    def write(i: int) -> None:
        cache.update(prompt, llm_string, [ChatGeneration(message=AIMessage(content=f"answer {i}"))])

    def ask(_: int) -> str:  # 16 equal models (one key), each slow enough that all miss and all write
        return str(FakeListChatModel(responses=["model answer", "unused"], sleep=0.2).invoke("another prompt").content)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(16)))
        asked = list(pool.map(ask, range(16)))
    stored = cache.lookup(prompt, llm_string)
    assert stored is not None and stored[0].text.startswith("answer ")
    assert len({r["cache_key"] for r in default_store().runs(job=JOB, limit=100)}) == 2  # one key per prompt
    assert set(asked) == {"model answer"}
    entries = [e for e in default_store().entries(job=JOB) if e["tombstoned_at"] is None]
    assert len(entries) == 2


def test_disabled_is_the_null_path(cache: LineageLLMCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_DISABLED", "true")
    m = model("one", "two")
    assert [m.invoke("x").content, m.invoke("x").content] == ["one", "two"]
    monkeypatch.delenv("LINEAGE_DISABLED")
    assert default_store().runs(job=JOB) == []


def test_clear_forgets_every_entry(cache: LineageLLMCache) -> None:
    m = model("one", "two")
    m.invoke("x")
    cache.clear()
    assert m.invoke("x").content == "two"


def test_the_async_path_hits_too(cache: LineageLLMCache) -> None:
    m = model("first", "second")

    async def main() -> list[str]:
        return [str((await m.ainvoke("async prompt")).content) for _ in range(2)]

    assert asyncio.run(main()) == ["first", "first"] and m.i == 1


PROCESS = textwrap.dedent("""
    import json
    from langchain_core.globals import set_llm_cache
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from lineage_core.llm import LineageLLMCache
    set_llm_cache(LineageLLMCache())
    m = FakeListChatModel(responses=["from the process that asked first", "unused"])
    print(json.dumps({"answer": m.invoke("Which process answered?").content, "model_calls": m.i}))
""")


@pytest.mark.slow
def test_a_hit_across_processes() -> None:
    def run() -> str:
        out = subprocess.run([sys.executable, "-c", PROCESS], env={**os.environ, "PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True, timeout=180, check=True)
        return out.stdout.strip().splitlines()[-1]

    assert run() == '{"answer": "from the process that asked first", "model_calls": 1}'
    assert run() == '{"answer": "from the process that asked first", "model_calls": 0}'  # a hit: no model call
    assert [r["status"] for r in sorted(default_store().runs(job=JOB), key=lambda r: r["started_at"])] == [
        "COMPLETED", "CACHED"]
