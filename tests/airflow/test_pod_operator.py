"""The gpu_finetune example DAG and CachedKubernetesPodOperator on real Airflow, without a cluster.

- the pod spec, built by the operator itself (``build_pod_request_obj(dry_run=True)``);
- the miss path with the real kubernetes client against the loopback fake API (tests/airflow/fake_kube.py),
  whose "kubelet" runs the container's command — ``lineage exec -- python finetune.py`` — as a local
  process: the pod registers its run in the store through the secret-provided URL and sends its events to
  the lineage server as a child of the Airflow task;
- the hit path under a real ``dag.test()``: no pod is created, the XCom lists the cached outputs;
- an output changed behind our back is a miss, never a wrong hit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage_core.errors import ConfigError
from lineage_core.runtime import default_store

from ..services.lineage_server import Server
from ..services.olspec import check_event, spec_registry
from .conftest import ROOT, provider_events, wait_for, xcoms
from .fake_kube import FakeKube


def dag_task(dag_id: str, task_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(ROOT / "dags")).get_dag(dag_id).get_task(task_id)


def test_pod_spec_carries_gpu_settings_secrets_and_the_wrapped_entrypoint(airflow_db: Path) -> None:
    from lineage_airflow.pod import GPU_PRODUCT_LABEL

    train = dag_task("gpu_finetune", "train")
    pod = train.build_pod_request_obj(dry_run=True)
    (container,) = pod.spec.containers
    assert container.image == train.image and "@sha256:" in container.image
    assert container.command == ["lineage", "exec", "--", "python", "finetune.py"]
    assert container.resources.limits == {"nvidia.com/gpu": "1"}
    assert pod.spec.node_selector == {GPU_PRODUCT_LABEL: "NVIDIA-A100-SXM4-80GB"}
    assert [(t.key, t.operator, t.effect) for t in pod.spec.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]
    (shm,) = [v for v in pod.spec.volumes if v.name == "dshm"]
    assert (shm.empty_dir.medium, shm.empty_dir.size_limit) == ("Memory", "8Gi")
    assert any(m.mount_path == "/dev/shm" for m in container.volume_mounts)
    env = {e.name: e for e in container.env}
    assert env["EPOCHS"].value == "5" and env["LINEAGE_IMAGE_DIGEST"].value == train.image
    secret_refs = {n: (e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key)
                   for n, e in env.items() if e.value_from}
    assert secret_refs == {"OPENLINEAGE_API_KEY": ("lineage-token", "token"),
                           "LINEAGE_STORE_URL": ("lineage-store", "store-url")}


def test_tag_images_are_refused_with_require_digest(airflow_db: Path) -> None:
    from lineage_airflow import CachedKubernetesPodOperator, CacheSpec

    op = CachedKubernetesPodOperator(task_id="t", image="python:3.11", cmds=["python"], outputs=["/tmp/o"],
                                     cache=CacheSpec(require_digest=True))
    with pytest.raises(ConfigError, match="not pinned by digest"):
        op.command_spec()
    with pytest.raises(ConfigError, match="give cmds"):
        CachedKubernetesPodOperator(task_id="u", image="python:3.11", outputs=["/tmp/o"])
    with pytest.raises(ConfigError, match="takes a lineage_core CacheSpec"):
        CachedKubernetesPodOperator(task_id="v", image="python:3.11", cmds=["python"], task={"gpus": 1})


def test_container_task_translates_to_the_pod_and_the_key(airflow_db: Path) -> None:
    """Every ContainerTask field lands in the pod; the GPU class (not limits or mounts) is key material."""
    from lineage_airflow import CachedKubernetesPodOperator, ContainerTask

    task = ContainerTask(gpus=2, accelerator="amd.com/gpu", gpu_type="MI300X", tolerate_gpu_taint=False, cpu="4",
                         memory="32Gi", pvcs={"datasets": "/data"}, env={"HF_HOME": "/data/hf"},
                         server_store=True, lineage_server_url="https://lineage.ml:5000",
                         token_secret="lineage-token:api", secret_env={"s3": {"key-id": "AWS_ACCESS_KEY_ID"}})
    op = CachedKubernetesPodOperator(task_id="t", image="python:3.11", cmds=["python"], outputs=["/tmp/o"],
                                     env_vars={"EPOCHS": "1"}, task=task)
    pod = op.build_pod_request_obj(dry_run=True)
    (container,) = pod.spec.containers
    assert container.resources.limits == {"amd.com/gpu": "2", "cpu": "4", "memory": "32Gi"}
    assert pod.spec.node_selector == {"nvidia.com/gpu.product": "MI300X"} and not pod.spec.tolerations
    (pvc,) = [v for v in pod.spec.volumes if v.persistent_volume_claim]
    assert pvc.persistent_volume_claim.claim_name == "datasets"
    assert any(m.name == pvc.name and m.mount_path == "/data" for m in container.volume_mounts)
    env = {e.name: e for e in container.env}
    assert env["HF_HOME"].value == "/data/hf" and env["EPOCHS"].value == "1"
    assert env["LINEAGE_STORE_URL"].value == env["OPENLINEAGE_URL"].value == "https://lineage.ml:5000"
    secret_refs = {n: (e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key)
                   for n, e in env.items() if e.value_from}
    assert secret_refs == {"OPENLINEAGE_API_KEY": ("lineage-token", "api"), "AWS_ACCESS_KEY_ID": ("s3", "key-id")}
    spec = op.command_spec()
    assert spec.resources == {"gpu_resource": "amd.com/gpu", "gpus": 2, "gpu_type": "MI300X"}
    assert spec.env == {"EPOCHS": "1", "HF_HOME": "/data/hf"}
    with pytest.raises(ConfigError, match=r"both in env_vars and in task\.env"):
        CachedKubernetesPodOperator(task_id="u", image="python:3.11", cmds=["python"], env_vars={"HF_HOME": "x"},
                                    task=task)


@pytest.fixture
def cluster(airflow_db: Path, lineage_server: Server, lineage_home: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    """The fake cluster, the kubernetes_default connection to it, and the DAG's deployment Variables."""
    image = dag_task("gpu_finetune", "train").image
    store_url = f"sqlite:///{lineage_home / 'lineage.db'}"
    kube = FakeKube(tmp_path, images={image: ROOT / "examples" / "finetune"},
                    secrets={"lineage-store": {"store-url": store_url}, "lineage-token": {"token": "t0ken"}})
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps({
        "conn_type": "kubernetes", "extra": {"kube_config_path": str(kube.kubeconfig), "in_cluster": False}}))
    monkeypatch.setenv("AIRFLOW_VAR_MODELS_URL", str(tmp_path / "models"))
    monkeypatch.setenv("AIRFLOW_VAR_LINEAGE_ARTIFACTS_URL", (lineage_home / "artifacts").as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_LINEAGE_SERVER_URL", f"http://127.0.0.1:{lineage_server.port}")
    yield kube
    kube.stop()


def train_runs() -> list[dict[str, Any]]:
    return list(reversed(default_store().runs(job="gpu_finetune.train")))


def test_gpu_finetune_runs_the_pod_once_then_hits_without_one(cluster: FakeKube, run_dag: Any,
                                                             lineage_server: Server, tmp_path: Path) -> None:
    first = run_dag("gpu_finetune")
    assert len(cluster.created) == 1
    pod_env = {e["name"]: e for e in cluster.created[0]["spec"]["containers"][0]["env"]}
    assert "LINEAGE_EXEC" in pod_env and pod_env["OPENLINEAGE_URL"]["value"].startswith("http://127.0.0.1")
    out = tmp_path / "models" / "finetune"
    assert json.loads((out / "metrics.json").read_text())["rows"] == 256
    miss = xcoms(first)["train"]
    assert miss["cache"] == "miss" and set(miss["outputs"]) == {str(out)}
    (run,) = train_runs()
    assert run["status"] == "COMPLETED" and run["id"] == miss["lineage_run_id"]
    env = default_store().get_environment(run["environment_hash"])
    assert env is not None and env.image_digest == cluster.created[0]["spec"]["containers"][0]["image"]

    # The pod's own events reached the lineage server, as a child of the Airflow task's run.
    def pod_events() -> list[dict[str, Any]]:
        _, body = lineage_server.request("GET", "/api/v1/events/lineage?limit=200")
        return [e for e in body["events"] if e["run"]["runId"] == run["id"]]

    events = wait_for(lambda: len(pod_events()) >= 2 and pod_events(), what="the pod's events")
    registry = spec_registry()
    for event in events:
        check_event(registry, event)
        assert event["run"]["facets"]["parent"]["job"]["name"] == "gpu_finetune.train"

    second = run_dag("gpu_finetune")
    assert len(cluster.created) == 1  # no pod
    hit = xcoms(second)["train"]
    assert hit["cache"] == "hit" and hit["outputs"] == miss["outputs"] and hit["source_run_id"] == run["id"]
    assert [r["status"] for r in train_runs()] == ["COMPLETED", "CACHED"]
    complete = wait_for(lambda: [e for e in provider_events(second.run_id, "gpu_finetune.train")
                                 if e["eventType"] == "COMPLETE"], what="the provider's COMPLETE for train")
    facet = complete[0]["run"]["facets"]["lineage_cache"]  # a hit shows as a completed run with our facet
    assert facet["hit"] is True and facet["sourceRunId"] == run["id"]
    assert [o["name"] for o in complete[0]["outputs"]] == [str(out)]
    check_event(registry, complete[0], known_facets_only=True)

    (out / "metrics.json").write_text("{}")  # someone overwrote the model's outputs
    run_dag("gpu_finetune")
    assert len(cluster.created) == 2
    latest = train_runs()[-1]
    assert latest["status"] == "COMPLETED" and any("changed" in r for r in latest["reasons"]), latest["reasons"]
