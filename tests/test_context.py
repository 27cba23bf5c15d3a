"""The run context adapters give the core (``run_context``): what each run of the block records."""

from __future__ import annotations

from lineage_core.context import current_run_context, run_context


def test_a_run_context_is_the_enclosing_one_when_entered_with_its_own_info_over_it() -> None:
    outside = current_run_context()
    inner = run_context(task_id="t", try_number=2)  # made before the block it will be entered in
    with run_context(orchestrator="airflow", dag_id="d", task_id="outer"):
        with inner:
            assert current_run_context() == {**outside, "orchestrator": "airflow", "dag_id": "d", "task_id": "t",
                                             "try_number": 2}
        assert current_run_context() == {**outside, "orchestrator": "airflow", "dag_id": "d", "task_id": "outer"}
    assert current_run_context() == outside
