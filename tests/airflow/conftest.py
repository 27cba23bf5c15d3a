"""The Airflow suite: real Airflow 3 in its own venv (.venv-airflow), one pytest process.

Airflow reads its configuration at first import, so everything is set here, before any test imports it:
a temp AIRFLOW_HOME with a SQLite metadata DB (initialised once per session), the small test DAG
folder, no example DAGs, and the OpenLineage provider's transport — a composite of HTTP to a real
`lineage serve` started for the session (what a deployment does) and a JSON-lines file (to read the
events exactly as sent). DAGs run in-process with `dag.test()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..services.k8s import ControlPlane, ControlPlaneError
from ..services.lineage_server import Server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
DAGS = HOME / "dags"  # the example DAGs (dags/) and the test DAGs, copied so a test can edit a task
EVENTS = HOME / "openlineage.jsonl"
NAMESPACE = "airflow-test"
# The test cluster's images (image -> the directory standing for its filesystem: the pod's working dir) and its
# GPU node's product label (NVIDIA GPU feature discovery's), which the example DAG's gpu_type selects.
IMAGES = {"ghcr.io/lineage-core/finetune@sha256:" + "4f" * 32: ROOT / "examples" / "finetune"}
GPU_NODE_LABELS = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}

DAGS.mkdir()
for source in [*sorted((ROOT / "dags").glob("*.py")), *sorted((HERE / "dags").glob("*.py"))]:
    shutil.copy(source, DAGS / source.name)

# Modules beside the DAGs (dags/sklearn_steps.py) import by name, as Airflow's workers have the DAG folder on
# their path; dag.test() in this process does not add it.
sys.path.insert(0, str(DAGS))

os.environ.update({
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
})


@pytest.fixture(scope="session")
def lineage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("server-home")
    server = Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": f"sqlite:///{home}/server.db"})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """One real control plane for the session (../shared/k8s): its pods run this venv's ``lineage`` and
    ``python`` (the kubelet's PATH starts with this interpreter's bin dir). Not starting twice is a failure: a
    second try, in a fresh state directory with fresh ports, covers a component that died at start (a clean-clone
    CI run once saw kube-scheduler exit with an empty log, on ports the script had found free a moment before)."""
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    failures: list[str] = []
    for _ in range(2):
        try:
            plane = ControlPlane(tmp_path_factory.mktemp("k8s"), path=path, images=IMAGES,
                                 node_labels=GPU_NODE_LABELS).up()
            break
        except (ControlPlaneError, OSError, subprocess.TimeoutExpired) as e:
            failures.append(str(e))
            print(f"\ncontrol plane did not start (try {len(failures)}): {e}", file=sys.stderr)
    else:
        pytest.fail("the test control plane did not start, twice: " + "\n---\n".join(failures), pytrace=False)
    print(f"\ncontrol plane up in {plane.started_in:.1f} s", file=sys.stderr)
    yield plane
    plane.down()


@pytest.fixture
def k8s_namespace(k8s: ControlPlane) -> Iterator[str]:
    """A fresh namespace with its ``default`` ServiceAccount; deleted (not waited for) afterwards."""
    name = k8s.new_namespace()
    yield name
    k8s.delete_namespace(name)


@pytest.fixture(scope="session")
def airflow_db(lineage_server: Server) -> Path:
    """Point the provider at the server, then import Airflow and create its metadata DB (once)."""
    os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps({
        "type": "composite", "continue_on_failure": True, "continue_on_success": True,
        "transports": {
            "lineage": {"type": "http", "url": f"http://127.0.0.1:{lineage_server.port}", "endpoint": "api/v1/lineage"},
            "file": {"type": "file", "log_file_path": str(EVENTS), "append": True},
        },
    })
    from airflow.utils import db

    db.initdb()
    return HOME


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[[str], Any]:
    """Run a DAG from the test DAG folder with dag.test(); asserts it succeeded (dag.test() never raises)."""
    from airflow.dag_processing.dagbag import DagBag

    def run(dag_id: str) -> Any:
        bag = DagBag(str(DAGS))  # re-read: a test may have edited a DAG file
        assert not bag.import_errors, bag.import_errors
        dag_run = bag.get_dag(dag_id).test()
        assert dag_run.state == "success", f"{dag_id} ended {dag_run.state}"
        return dag_run

    return run


@contextlib.contextmanager
def edited_dag(name: str, old: str, new: str) -> Iterator[None]:
    """A file in the test DAG folder with one change (a user editing a task), restored afterwards. A module the
    DAGs import (not re-parsed by Airflow) is dropped from sys.modules, as a new worker process would load it."""
    path = DAGS / name
    source = path.read_text()
    assert old in source, f"{old!r} not in {name}"
    path.write_text(source.replace(old, new))
    sys.modules.pop(path.stem, None)
    try:
        yield
    finally:
        path.write_text(source)
        sys.modules.pop(path.stem, None)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll: the provider sends the DAG-level event from another process after dag.test() returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def file_events() -> list[dict[str, Any]]:
    """Every event the provider wrote to the file transport, in order."""
    if not EVENTS.exists():
        return []
    return [json.loads(line) for line in EVENTS.read_text().splitlines() if line.strip()]


def xcoms(dag_run: Any) -> dict[str, Any]:
    """task id -> return value XCom of one DAG run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel.task_id, XComModel.value).filter(
            XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id,
            XComModel.key == "return_value").all()
    return dict(rows)  # values come back deserialised


def provider_events(dag_run_id: str, job: str) -> list[dict[str, Any]]:
    """The provider's events for one task of one DAG run."""
    return [e for e in file_events() if e["job"]["name"] == job
            and (e["run"]["facets"].get("airflow") or {}).get("dagRun", {}).get("run_id") == dag_run_id]
