"""The KFP twin of the llm_eval DAG (kfp_components/pipelines/llm_eval_pipeline.py) under kfp.local, its tasks
calling the loopback OpenAI-compatible server (tests/services/openai_stub.py) with the real openai SDK through
CachingTransport, and a LangChain chain under LineageLLMCache: the first run sends each distinct request once
(the same question in both splits is one upstream call), the second run sends none (the stub counts), and every
call is a recorded run with its model and tokens."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage_core.runtime import default_store

from ..services.openai_stub import OpenAIStub

STEPS = ("load_split", "answer", "score", "summarise")


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    """The stub as the SDK's endpoint: the task subprocesses inherit OPENAI_BASE_URL and OPENAI_API_KEY."""
    stub = OpenAIStub().start()
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-kfp-test-key")
    yield stub
    stub.stop()


def steps_module() -> Any:
    import llm_steps  # beside the DAGs (tests/kfp/conftest.py puts dags/ on the path, as the image has it)

    return llm_steps


def statuses() -> dict[str, list[str]]:
    store = default_store()
    return {s: [r["status"] for r in reversed(store.runs(job=f"llm_eval_kfp.{s}"))] for s in STEPS}


def test_second_run_makes_no_upstream_call(kfp_local: Path, endpoint: OpenAIStub) -> None:
    from kfp_components.pipelines.llm_eval_pipeline import llm_eval_pipeline

    llm_steps = steps_module()
    questions = set(llm_steps.DEV) | set(llm_steps.TEST)
    llm_eval_pipeline()
    # per distinct question: the tool call and the answer; per distinct graded answer: one LangChain call;
    # and the streamed summary
    assert endpoint.count("/chat/completions") == 3 * len(questions)
    assert endpoint.count("/responses") == 1
    store = default_store()
    calls = Counter(r["status"] for r in store.runs(job="llm.chat.completions", limit=1000))
    assert calls == {"COMPLETED": 2 * len(questions),
                     "CACHED": 2 * (len(llm_steps.DEV) + len(llm_steps.TEST) - len(questions))}
    graded = store.runs(job="llm.langchain", limit=1000)
    assert Counter(r["status"] for r in graded)["COMPLETED"] == len(questions)
    sent = [r for r in store.runs(job="llm.chat.completions", limit=1000) if r["status"] == "COMPLETED"]
    assert all(r["context"]["llm"]["model"] == llm_steps.MODEL and r["context"]["llm"]["usage"]["total"] > 0
               for r in sent)
    assert all(r["context"]["orchestrator"] == "kfp" for r in sent)  # each call ran in a KFP task

    before = endpoint.count()
    llm_eval_pipeline()
    assert endpoint.count() == before  # no request reached the endpoint
    assert statuses() == {"load_split": ["COMPLETED", "COMPLETED", "CACHED", "CACHED"],
                          "answer": ["COMPLETED", "COMPLETED", "CACHED", "CACHED"],
                          "score": ["COMPLETED", "CACHED"], "summarise": ["COMPLETED", "CACHED"]}
    assert all("sk-kfp-test-key" not in p.read_bytes().decode("latin-1")
               for p in Path(store.home).rglob("*") if p.is_file())  # the API key is stored nowhere
