"""The llm_eval example DAG on real Airflow: each prompt's model call goes through the shared cache
(identical calls across tasks hit, concurrent identical calls run the model once), an unchanged rerun
executes nothing, a code change re-runs only that task, and the provider's events — carrying our facets —
land in our lineage server over HTTP."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lineage_core.runtime import default_store

from ..services.lineage_server import Server
from ..services.olspec import check_event, spec_registry
from .conftest import DAGS, edited_dag, provider_events, wait_for, xcoms

TASKS = ("load_dev", "load_test", "answer_dev", "answer_test", "score")


def statuses(job: str) -> list[str]:
    return [r["status"] for r in reversed(default_store().runs(job=job, limit=500))]


def test_llm_eval_calls_each_prompt_once_and_reruns_nothing(run_dag: Any, lineage_server: Server) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("llm_eval_dag", DAGS / "llm_eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    unique = set(module.DEV) | set(module.TEST)

    first = run_dag("llm_eval")
    calls = Counter(statuses("llm_eval.generate"))
    assert calls["COMPLETED"] == len(unique)  # the model ran once per distinct prompt
    assert calls["CACHED"] == len(module.DEV) + len(module.TEST) - len(unique)  # every repeat was a hit
    generate_runs = default_store().runs(job="llm_eval.generate", limit=500)
    assert {r["context"]["task_id"] for r in generate_runs} == {"answer_dev", "answer_test"}  # lineage kept
    result = xcoms(first)
    scores = default_store().runs(job="llm_eval.score")[0]
    assert scores["status"] == "COMPLETED" and result["score"]["hash"]

    second = run_dag("llm_eval")
    assert {t: statuses(f"llm_eval.{t}") for t in TASKS} == {t: ["COMPLETED", "CACHED"] for t in TASKS}
    assert Counter(statuses("llm_eval.generate")) == calls  # nothing was called: the tasks hit
    assert xcoms(second)["score"]["hash"] == result["score"]["hash"]

    with edited_dag("llm_eval.py", "/ len(cases)", "/ max(len(cases), 1)"):
        run_dag("llm_eval")
    assert statuses("llm_eval.score")[-1] == "COMPLETED"
    assert all(statuses(f"llm_eval.{t}")[-1] == "CACHED" for t in TASKS if t != "score")

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
