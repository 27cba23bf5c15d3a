"""The kill switch in every Airflow adapter, on real Airflow (dag.test()): with ``LINEAGE_DISABLED=true``, or a
cache that does not write (``LINEAGE_CACHE=off`` / ``read``), every cached task succeeds and hands the plain
value on as a normal XCom — downstream cached tasks included — and the store records what the mode says:
nothing when disabled, runs but no entries when the cache does not write, hits when it only reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lineage_core.refs import MARKER
from lineage_core.runtime import default_store

from ..services.k8s import GPU_TAINT, ControlPlane
from .conftest import DAGS, edited_dag, xcoms

PYTHON_TASKS = {"numbers": "kill_switch.numbers", "total": "kill_switch.total", "doubled": "kill_switch.doubled"}
PLAIN = {"numbers": [1, 2, 3, 4], "total": 10, "doubled": 20}


def runs(job: str) -> list[dict[str, Any]]:
    return list(reversed(default_store().runs(job=job)))


def entries(job: str) -> int:
    """How many of a job's runs left a cache entry (a hit or a stored miss)."""
    store = default_store()
    return sum(store.lookup(r["cache_key"]) is not None for r in runs(job))


@pytest.mark.parametrize("env", [{"LINEAGE_DISABLED": "true"}, {"LINEAGE_CACHE": "off"}, {"LINEAGE_CACHE": "read"}],
                         ids=["disabled", "off", "read"])
def test_python_tasks_pass_plain_values_and_record_what_the_mode_says(
        env: dict[str, str], run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for _ in range(2):
        assert xcoms(run_dag("kill_switch")) == PLAIN  # plain values, downstream included
    for task, job in PYTHON_TASKS.items():
        if "LINEAGE_DISABLED" in env:
            assert runs(job) == [], task  # nothing recorded
        else:  # recorded every time (the callable ran), nothing stored
            assert [r["status"] for r in runs(job)] == ["COMPLETED", "COMPLETED"], task
            assert entries(job) == 0, task
    if "LINEAGE_DISABLED" in env:
        assert not (Path(default_store().home) / "artifacts").exists() or not any(
            (Path(default_store().home) / "artifacts").rglob("*.*"))


def test_a_read_only_cache_serves_hits_as_plain_values(run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    refs = xcoms(run_dag("kill_switch"))  # readwrite: references
    assert all(r[MARKER] == 1 for r in refs.values())
    monkeypatch.setenv("LINEAGE_CACHE", "read")
    assert xcoms(run_dag("kill_switch")) == PLAIN
    first, hit = runs("kill_switch.numbers")
    assert (hit["status"], hit["source_run_id"]) == ("CACHED", first["id"])
    # Downstream, the input arrives by value, not by the reference the entries were keyed with: a miss that
    # runs and stores nothing (a read-only cache hits a chain only where its inputs are the same values).
    for job in ("kill_switch.total", "kill_switch.doubled"):
        assert [r["status"] for r in runs(job)] == ["COMPLETED", "COMPLETED"] and entries(job) == 1, job


def test_off_per_task_hands_a_plain_value_to_a_cached_downstream(run_dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task with ``cache="off"`` between cached ones: its plain XCom is keyed by value downstream."""
    path = DAGS / "kill_switch.py"
    source = path.read_text()
    path.write_text(source.replace('@cached_task(name="kill_switch.total")',
                                   '@cached_task(name="kill_switch.total", cache="off")'))
    try:
        first, second = xcoms(run_dag("kill_switch")), xcoms(run_dag("kill_switch"))
    finally:
        path.write_text(source)
    assert first["total"] == second["total"] == 10 and first["doubled"][MARKER] == 1
    assert first["doubled"]["hash"] == second["doubled"]["hash"]
    assert [r["status"] for r in runs("kill_switch.total")] == ["COMPLETED", "COMPLETED"]
    assert [r["status"] for r in runs("kill_switch.doubled")] == ["COMPLETED", "CACHED"]  # same value: a hit


@dataclass
class PodCluster:
    """The kill-switch DAG's pods in a fresh namespace of the session's real control plane (the DAG's namespace
    edited in the test DAG folder; pods kept after they finish, so a test can read the specs the API server
    stored)."""

    k8s: ControlPlane
    namespace: str

    @property
    def created(self) -> list[dict[str, Any]]:
        return self.k8s.items(f"/api/v1/namespaces/{self.namespace}/pods", "labelSelector=dag_id%3Dkill_switch_pod")


@pytest.fixture
def pod_cluster(airflow_db: Path, k8s: ControlPlane, k8s_namespace: str, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[PodCluster]:
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps({
        "conn_type": "kubernetes", "extra": {"kube_config_path": k8s.kubeconfig, "in_cluster": False}}))
    (tmp_path / "in.txt").write_text("hello")
    monkeypatch.setenv("AIRFLOW_VAR_KILL_SWITCH_IN", str(tmp_path / "in.txt"))
    monkeypatch.setenv("AIRFLOW_VAR_KILL_SWITCH_OUT", str(tmp_path / "out.txt"))
    # the cluster's one node is a GPU node, tainted: this CPU pod tolerates the taint to be scheduled at all
    edit = f'namespace="{k8s_namespace}", on_finish_action="keep_pod", tolerations=[{GPU_TAINT!r}]'
    with edited_dag("kill_switch.py", 'namespace="ml"', edit):
        yield PodCluster(k8s, k8s_namespace)


def base_container(pod: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "base")


def test_disabled_pod_operator_is_a_plain_pod_operator(pod_cluster: PodCluster, run_dag: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_DISABLED", "true")
    for _ in range(2):
        result = xcoms(run_dag("kill_switch_pod"))
        assert result["read_back"] == "HELLO" and "write" not in result  # KPO's XCom: none without do_xcom_push
    pods = pod_cluster.created
    assert len(pods) == 2  # no cache: the pod runs every time
    for pod in pods:
        container = base_container(pod)
        assert container["command"][:2] == ["python", "-c"]  # no `lineage exec` wrapper
        env = {e["name"]: e.get("value") for e in container.get("env") or []}
        assert env.get("LINEAGE_DISABLED") == "true" and "LINEAGE_EXEC" not in env
    assert runs("kill_switch_pod.write") == []


def test_cache_off_runs_the_pod_every_time_and_records_without_storing(
        pod_cluster: PodCluster, run_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_CACHE", "off")
    for _ in range(2):
        result = xcoms(run_dag("kill_switch_pod"))
        assert result["read_back"] == "HELLO"
        assert result["write"]["cache"] == "not stored"
        assert set(result["write"]["outputs"]) == {str(tmp_path / "out.txt")}
    pods = pod_cluster.created
    assert len(pods) == 2
    for pod in pods:
        container = base_container(pod)
        env = {e["name"]: e.get("value") for e in container.get("env") or []}
        assert container["command"][:2] == ["python", "-c"] and env.get("LINEAGE_CACHE") == "off"
        assert "LINEAGE_EXEC" not in env
    recorded = runs("kill_switch_pod.write")
    assert [r["status"] for r in recorded] == ["COMPLETED", "COMPLETED"] and entries("kill_switch_pod.write") == 0
    assert all("caching is off" in r["reasons"][0] for r in recorded)

    monkeypatch.setenv("LINEAGE_CACHE", "readwrite")  # the same task cached: one more pod, then none
    run_dag("kill_switch_pod")
    run_dag("kill_switch_pod")
    assert len(pod_cluster.created) == 3
    assert [r["status"] for r in runs("kill_switch_pod.write")][2:] == ["COMPLETED", "CACHED"]
