"""The llm_eval example DAG on real Airflow, its tasks calling the loopback OpenAI-compatible server
(tests/services/openai_stub.py) with the real openai SDK through CachingTransport and a LangChain chain under
LineageLLMCache: the first run sends each distinct request once (the same question in both splits and in
concurrent threads is one upstream call), an unchanged rerun executes nothing and sends nothing, a changed
task re-runs with every model call answered from the store (zero upstream calls), and the provider's events —
carrying our facets — land in our lineage server over HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from lineage_core.runtime import default_store

from ..services.lineage_server import Server
from ..services.olspec import check_event, spec_registry
from ..services.openai_stub import OpenAIStub
from .conftest import edited_dag, provider_events, wait_for, xcoms

TASKS = ("load_dev", "load_test", "answer_dev", "answer_test", "score", "summarise")
API_KEY = "sk-airflow-test-key"


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    """The stub as the SDK's endpoint (OPENAI_BASE_URL, OPENAI_API_KEY: what an Airflow worker would be given)."""
    stub = OpenAIStub().start()
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    yield stub
    stub.stop()


def statuses(job: str) -> list[str]:
    return [r["status"] for r in reversed(default_store().runs(job=job, limit=1000))]


def steps_module() -> Any:
    import llm_steps  # beside the DAGs (conftest puts the DAG folder on the path)

    return llm_steps


def test_llm_eval_sends_each_request_once_and_reruns_send_nothing(run_dag: Any, lineage_server: Server,
                                                                  endpoint: OpenAIStub) -> None:
    steps = steps_module()
    unique = set(steps.DEV) | set(steps.TEST)
    repeats = len(steps.DEV) + len(steps.TEST) - len(unique)

    first = run_dag("llm_eval")
    # per distinct question a tool call and an answer, per distinct graded answer one LangChain call, one summary
    assert endpoint.count("/chat/completions") == 3 * len(unique) and endpoint.count("/responses") == 1
    calls = Counter(statuses("llm.chat.completions"))
    assert calls == {"COMPLETED": 2 * len(unique), "CACHED": 2 * repeats}  # every repeat was a hit
    chat_runs = default_store().runs(job="llm.chat.completions", limit=1000)
    assert {r["context"]["task_id"] for r in chat_runs} == {"answer_dev", "answer_test"}  # the task that asked
    assert {r["context"]["task_id"] for r in default_store().runs(job="llm.langchain", limit=1000)} == {"score"}
    assert Counter(statuses("llm.langchain")) == {"COMPLETED": len(unique), "CACHED": repeats}
    result = xcoms(first)
    assert result["score"]["hash"] and result["summarise"]["hash"]

    sent = endpoint.count()
    second = run_dag("llm_eval")
    assert endpoint.count() == sent  # nothing reached the endpoint
    assert {t: statuses(f"llm_eval.{t}") for t in TASKS} == {t: ["COMPLETED", "CACHED"] for t in TASKS}
    assert Counter(statuses("llm.chat.completions")) == calls  # no model call at all: the tasks hit
    assert xcoms(second)["score"]["hash"] == result["score"]["hash"]

    # A changed task runs again; every model call it makes is answered from the store.
    with edited_dag("llm_eval.py", "return llm_steps.answer(cases)", "return list(llm_steps.answer(cases))"):
        run_dag("llm_eval")
    assert endpoint.count() == sent
    assert statuses("llm_eval.answer_dev")[-1] == statuses("llm_eval.answer_test")[-1] == "COMPLETED"
    assert all(statuses(f"llm_eval.{t}")[-1] == "CACHED" for t in ("load_dev", "load_test", "score", "summarise"))
    assert Counter(statuses("llm.chat.completions")) == {
        "COMPLETED": 2 * len(unique), "CACHED": 2 * repeats + 2 * (len(steps.DEV) + len(steps.TEST))}

    # Airflow's provider sent the tasks' events, with our facets, to our server over HTTP.
    registry = spec_registry()

    def served() -> list[dict[str, Any]]:
        _, body = lineage_server.request("GET", "/api/v1/events/lineage?limit=500")
        return [e for e in body["events"] if e["job"]["name"] == "llm_eval.answer_dev" and e["eventType"] == "COMPLETE"
                and (e["run"]["facets"].get("airflow") or {}).get("dagRun", {}).get("run_id") == second.run_id]

    (event,) = wait_for(served, what="the provider's COMPLETE for answer_dev in the lineage server")
    assert event["run"]["facets"]["lineage_cache"]["hit"] is True
    assert event == next(e for e in provider_events(second.run_id, "llm_eval.answer_dev")
                         if e["eventType"] == "COMPLETE")  # stored verbatim
    check_event(registry, event, known_facets_only=True)
    _, job = lineage_server.request("GET", "/api/v1/namespaces/airflow-test/jobs/llm_eval.answer_dev")
    assert job["latestRun"]["state"] == "COMPLETED"
    stored = [p for p in default_store().home.rglob("*") if p.is_file()]
    assert stored and not any(API_KEY.encode() in p.read_bytes() for p in stored)  # the API key is stored nowhere
