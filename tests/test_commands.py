"""Cached commands (``lineage_core.commands``) and ``lineage exec``: the key, the hit that re-checks its
outputs, the in-container run under an orchestrator's plan (a real subprocess), its result file, its
events to a real lineage server with a token, and completion from the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lineage_core.commands import CommandSpec, CommandStep, ExecPlan, complete, image_pinned
from lineage_core.errors import ConfigError, InputMissingError
from lineage_core.execution import plan_env, result_from_json
from lineage_core.runtime import default_store

from .services.lineage_server import Server
from .services.olspec import check_event, spec_registry

IMAGE = "registry.example/train@sha256:" + "ab" * 32
COPY = (sys.executable, "-c", "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2], dirs_exist_ok=True)")


def spec(tmp_path: Path, **changes: Any) -> CommandSpec:
    base: dict[str, Any] = {
        "name": "dag.train", "image": IMAGE, "command": (*COPY, str(tmp_path / "in"), str(tmp_path / "out")),
        "env": {"EPOCHS": "3", "API_TOKEN": "s3cret"}, "inputs": (str(tmp_path / "in"),),
        "outputs": (str(tmp_path / "out"),), "resources": {"gpu_resource": "nvidia.com/gpu", "gpus": 1},
    }
    return CommandSpec(**{**base, **changes})


def exec_in_pod(plan: ExecPlan, argv: tuple[str, ...], tmp_path: Path, **env: str) -> tuple[int, dict[str, Any]]:
    """``lineage exec`` as a container entrypoint: a fresh process that gets only the pod's env."""
    result = tmp_path / "xcom" / "return.json"
    pod_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **plan_env(plan, str(result)), **env}
    proc = subprocess.run([sys.executable, "-m", "lineage_core.cli", "exec", "--", *argv], env=pod_env,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, json.loads(result.read_text()) if result.exists() else {}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "train.csv").write_text("x,y\n1,2\n")
    return tmp_path


def test_key_covers_what_changes_outputs_and_nothing_secret(data: Path) -> None:
    store = default_store()
    base = CommandStep(spec(data), store)
    assert "s3cret" not in json.dumps(base.manifest.to_dict())
    assert CommandStep(spec(data, env={"EPOCHS": "3", "API_TOKEN": "other"}), store).key == base.key
    for change in ({"image": IMAGE.replace("ab", "cd")}, {"env": {"EPOCHS": "4"}},
                   {"resources": {"gpu_resource": "nvidia.com/gpu", "gpus": 2}}, {"version": "2"},
                   {"command": (*COPY, str(data / "in"), str(data / "out"), "--fast")}):
        assert CommandStep(spec(data, **change), store).key != base.key, change
    (data / "in" / "train.csv").write_text("x,y\n1,3\n")
    assert CommandStep(spec(data), store).key != base.key  # by content, not by name
    assert image_pinned(IMAGE) and not image_pinned("python:3.11")
    with pytest.raises(InputMissingError, match="does not exist"):
        CommandStep(spec(data, inputs=(str(data / "missing"),)), store)
    with pytest.raises(ConfigError, match="outputs"):
        spec(data, outputs=())


def test_pod_run_under_a_plan_then_hits_and_rechecks_outputs(data: Path) -> None:
    store = default_store()
    step = CommandStep(spec(data), store)
    verdict = step.check()
    assert not verdict.hit and "first run" in verdict.reasons[0]
    parent = {"run_id": "01930000-0000-7000-8000-000000000001", "namespace": "airflow", "name": "dag.train",
              "root": None}
    plan = step.begin(verdict, {"orchestrator": "airflow", "parent": parent})
    assert store.get_run(plan.run_id)["status"] == "RUNNING"

    # The pod cannot reach the store: it reports through the result file only.
    code, result = exec_in_pod(plan, step.spec.command, data, LINEAGE_IMAGE_DIGEST=IMAGE)
    assert code == 0, result
    assert result["status"] == "COMPLETED" and set(result["outputs"]) == {str(data / "out")}
    assert result["environment"]["image_digest"] == IMAGE  # captured inside the "container"
    assert (data / "out" / "train.csv").exists()
    assert store.lookup(step.key) is None  # nothing registered until the orchestrator completes it

    assert complete(store, plan, result_from_json(result)) is True
    assert complete(store, plan, result_from_json(result)) is False  # idempotent
    run = store.get_run(plan.run_id)
    assert run["status"] == "COMPLETED" and run["environment_hash"]

    hit = CommandStep(spec(data), store).check()
    assert hit.hit and hit.source_run_id == plan.run_id and hit.outputs == result["outputs"]
    # One rule for every hit (cached functions too): a run records where it ran. The hit ran here, in the
    # orchestrator; the producer's environment (the container's image) stays on the producing run.
    hit_env = store.get_environment(store.get_run(hit.run_id)["environment_hash"])
    assert hit_env is not None and hit_env.image_digest != IMAGE
    assert store.get_environment(run["environment_hash"]).image_digest == IMAGE

    (data / "out" / "train.csv").write_text("tampered")
    again = CommandStep(spec(data), store).check()
    assert not again.hit and "changed" in again.reasons[0] and plan.run_id in again.reasons[0]


@pytest.mark.slow  # subprocesses: lineage exec in a pod
def test_pod_with_store_access_registers_itself_and_failures_cache_nothing(data: Path) -> None:
    store = default_store()
    reach = {"LINEAGE_STORE_URL": store.engine.url.render_as_string(hide_password=False),
             "LINEAGE_ARTIFACTS_URL": store.artifacts.url}
    step = CommandStep(spec(data), store)
    plan = step.begin(step.check())
    code, result = exec_in_pod(plan, step.spec.command, data, **reach)
    assert code == 0 and store.get_run(plan.run_id)["status"] == "COMPLETED"
    assert store.lookup(step.key).run_id == plan.run_id
    assert complete(store, plan, result_from_json(result)) is False  # already complete: the pod did it

    failing = CommandStep(spec(data, command=(sys.executable, "-c", "raise SystemExit(3)")), store)
    plan = failing.begin(failing.check())
    code, result = exec_in_pod(plan, failing.spec.command, data, **reach)
    assert code == 3 and result["status"] == "FAILED" and "status 3" in result["error"]
    assert store.get_run(plan.run_id)["status"] == "FAILED" and store.lookup(failing.key) is None

    lazy = CommandStep(spec(data, command=(sys.executable, "-c", "pass"), outputs=(str(data / "never"),)), store)
    plan = lazy.begin(lazy.check())
    code, result = exec_in_pod(plan, lazy.spec.command, data, **reach)
    assert code == 1 and "did not write declared outputs" in result["error"]
    assert store.lookup(lazy.key) is None


@pytest.mark.slow  # starts a lineage server
def test_pod_events_reach_the_lineage_server_as_children_of_the_task(data: Path, tmp_path: Path) -> None:
    server = Server({"LINEAGE_HOME": str(tmp_path / "server"), "LINEAGE_SERVER_TOKENS": "pod-t0ken"},
                    host="0.0.0.0")
    try:
        store = default_store()
        step = CommandStep(spec(data), store)
        parent = {"run_id": "01930000-0000-7000-8000-000000000002", "namespace": "airflow", "name": "dag.train",
                  "root": {"run_id": "01930000-0000-7000-8000-000000000003", "namespace": "airflow", "name": "dag"}}
        plan = step.begin(step.check(), {"orchestrator": "airflow", "parent": parent})
        code, _ = exec_in_pod(plan, step.spec.command, data, OPENLINEAGE_URL=f"http://127.0.0.1:{server.port}",
                              OPENLINEAGE_API_KEY="pod-t0ken")
        assert code == 0
        _status, body = server.request("GET", "/api/v1/events/lineage?sortDirection=asc&limit=50", None,
                                       {"Authorization": "Bearer pod-t0ken"})
        events = [e for e in body["events"] if e["run"]["runId"] == plan.run_id]
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
        registry = spec_registry()
        for event in events:
            check_event(registry, event)
            assert event["run"]["facets"]["parent"]["run"]["runId"] == parent["run_id"]
        assert events[0]["run"]["facets"]["lineage_environment"]["python"]  # captured in the pod
        assert events[1]["run"]["facets"]["lineage_cache"]["key"] == step.key
        assert [o["name"] for o in events[1]["outputs"]] == [str(data / "out")]
        assert "s3cret" not in json.dumps(events)
    finally:
        server.stop()


@pytest.mark.slow  # subprocesses: lineage exec twice
def test_lineage_exec_on_its_own_is_a_cached_command(tmp_path: Path, lineage_home: Path) -> None:
    (tmp_path / "in.txt").write_text("hello")
    argv = [sys.executable, "-m", "lineage_core.cli", "exec", "--input", str(tmp_path / "in.txt"), "--output",
            str(tmp_path / "out.txt"), "--name", "copy", "--", "cp", "in.txt", "out.txt"]
    env = {**os.environ, "LINEAGE_HOME": str(lineage_home)}
    first = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode == 0 and "cache miss" in first.stderr
    (tmp_path / "in.txt.bak").write_text("")  # unrelated files change nothing
    second = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert second.returncode == 0 and "cache hit" in second.stderr and "not running cp" in second.stderr
    bad = subprocess.run([*argv[:4], "--", "true"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "needs --output" in bad.stderr
    broken = subprocess.run([*argv[:4], "--", "true"], env={**env, "LINEAGE_EXEC": "{not json"},
                            capture_output=True, text=True)
    assert broken.returncode == 2 and "LINEAGE_EXEC is not a valid execution plan" in broken.stderr
