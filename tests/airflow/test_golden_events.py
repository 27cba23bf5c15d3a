"""Golden OpenLineage events of the train_sklearn example DAG (real Airflow, dag.test(), the OpenLineage
provider's own events carrying our facets): the first run (every task a miss, each saying why) and the second
(every task a hit naming its producer). See tests/golden.py for what is compared. The tasks hand each other
artifact references, and each task's events name the artifacts it read: the DAG is one graph
prepare -> train -> evaluate in the lineage server the provider sends to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..golden import check_golden
from ..services.lineage_server import Server
from .conftest import NAMESPACE, file_events, wait_for

HERE = Path(__file__).resolve().parent
TASKS = ("prepare", "train", "evaluate")


def task_events(dag_run: Any) -> list[dict[str, Any]]:
    def of_run() -> list[dict[str, Any]]:
        return [e for e in file_events() if e["job"]["name"].startswith(f"{dag_run.dag_id}.")
                and (e["run"]["facets"].get("airflow") or {}).get("dagRun", {}).get("run_id") == dag_run.run_id]

    return wait_for(lambda: len(of_run()) >= 2 * len(TASKS) and of_run(), what="every task's START and end")


def datasets(events: list[dict[str, Any]], task: str, side: str) -> set[str]:
    return {f"dataset:{d['namespace']}:{d['name']}" for e in events if e["job"]["name"] == f"train_sklearn.{task}"
            and e["eventType"] == "COMPLETE" for d in e[side]}


def assert_one_graph(server: Server, events: list[dict[str, Any]]) -> None:
    """prepare's frame is train's input and evaluate's, train's model is evaluate's: one graph in the server."""
    (frame,), (model,) = datasets(events, "prepare", "outputs"), datasets(events, "train", "outputs")
    assert datasets(events, "train", "inputs") == {frame}
    assert datasets(events, "evaluate", "inputs") == {frame, model}
    prepare, train, evaluate = (f"job:{NAMESPACE}:train_sklearn.{t}" for t in TASKS)

    def graph() -> set[tuple[str, str]]:
        status, body = server.request("GET", f"/api/v1/lineage?nodeId={prepare}&depth=10")
        assert status == 200
        return {(e["origin"], e["destination"]) for n in body["graph"] for e in n["outEdges"]}

    expected = {(prepare, frame), (frame, train), (train, model), (model, evaluate), (frame, evaluate)}
    wait_for(lambda: expected <= graph(), what="the DAG's graph in the lineage server")


def test_train_sklearn_events_are_the_golden_ones(run_dag: Any, lineage_server: Server) -> None:
    first = task_events(run_dag("train_sklearn"))
    check_golden(HERE, "train_sklearn.first_run", first)
    assert_one_graph(lineage_server, first)
    second = task_events(run_dag("train_sklearn"))
    check_golden(HERE, "train_sklearn.second_run", second)
    assert_one_graph(lineage_server, second)
