"""Golden OpenLineage events of the train_sklearn example DAG (real Airflow, dag.test(), the OpenLineage
provider's own events carrying our facets): the first run (every task a miss, each saying why) and the second
(every task a hit naming its producer). See tests/golden.py for what is compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..golden import check_golden
from .conftest import file_events, wait_for

HERE = Path(__file__).resolve().parent
TASKS = ("prepare", "train", "evaluate")


def task_events(dag_run: Any) -> list[dict[str, Any]]:
    def of_run() -> list[dict[str, Any]]:
        return [e for e in file_events() if e["job"]["name"].startswith(f"{dag_run.dag_id}.")
                and (e["run"]["facets"].get("airflow") or {}).get("dagRun", {}).get("run_id") == dag_run.run_id]

    return wait_for(lambda: len(of_run()) >= 2 * len(TASKS) and of_run(), what="every task's START and end")


def test_train_sklearn_events_are_the_golden_ones(run_dag: Any) -> None:
    check_golden(HERE, "train_sklearn.first_run", task_events(run_dag("train_sklearn")))
    check_golden(HERE, "train_sklearn.second_run", task_events(run_dag("train_sklearn")))
