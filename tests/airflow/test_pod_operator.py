"""The gpu_finetune example DAG and CachedKubernetesPodOperator on real Airflow and a real Kubernetes API server.

The cluster is the session's control plane (tests/services/k8s.py: etcd, kube-apiserver, kube-scheduler,
kube-controller-manager) with the mini kubelet, which runs a bound pod's container command as a local process
on a GPU node (``nvidia.com/gpu: 8``, the GPU taint, the product label the DAG's ``gpu_type`` selects). Every
request — create, watch the phase, follow the log, read the status — goes to the real API server.

- the pod spec, built by the operator itself (``build_pod_request_obj(dry_run=True)``), and a GPU pod with
  every ContainerTask helper accepted by the API server, scheduled onto the GPU node, its taint tolerated;
- invalid GPU settings refused by us with a ConfigError before submission, each also refused by the API
  server when sent as it is; what only the API server can judge (a toleration effect) refused by it;
- the miss path under a real ``dag.test()``: the pod runs ``lineage exec -- python finetune.py``, reads the store
  URL and the token from Kubernetes secrets (env ``secretKeyRef``, resolved by the kubelet from the API), registers
  its run in the store and sends its events to the lineage server as a child of the Airflow task;
- the hit path: no pod is created, the XCom lists the cached outputs;
- an output changed behind our back is a miss, never a wrong hit.

The XCom sidecar (exec into the pod) is beyond the mini kubelet, so the DAG runs with ``do_xcom_push=False``
(KubernetesPodOperator's default): the pod completes its own run through the store (the store path), and the
operator pushes its XCom itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage_core.errors import ConfigError
from lineage_core.runtime import default_store

from ..services.k8s import GPU_NODE, GPU_TAINT, ControlPlane
from ..services.lineage_server import Server
from ..services.olspec import check_event, spec_registry
from .conftest import GPU_NODE_LABELS, IMAGES, ROOT, edited_dag, provider_events, wait_for, xcoms


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


def submit(k8s: ControlPlane, namespace: str, pod: Any) -> tuple[int, Any]:
    """POST a V1Pod as the kubernetes client (KubernetesPodOperator's create_pod) serialises it."""
    from kubernetes.client import ApiClient

    pod.metadata.namespace = namespace
    return k8s.api("POST", f"/api/v1/namespaces/{namespace}/pods", ApiClient().sanitize_for_serialization(pod))


def secret(k8s: ControlPlane, namespace: str, name: str, data: dict[str, str]) -> None:
    k8s.ok("POST", f"/api/v1/namespaces/{namespace}/secrets", {"metadata": {"name": name}, "stringData": data})


def test_a_gpu_pod_with_every_helper_is_accepted_scheduled_and_tolerated(k8s: ControlPlane, k8s_namespace: str,
                                                                        tmp_path: Path) -> None:
    from lineage_airflow import CachedKubernetesPodOperator, ContainerTask

    ns = k8s_namespace
    k8s.ok("POST", "/api/v1/persistentvolumes", {
        "metadata": {"name": f"{ns}-datasets"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                 "hostPath": {"path": str(tmp_path)}, "persistentVolumeReclaimPolicy": "Delete"}})
    k8s.ok("POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", {
        "metadata": {"name": "datasets"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual", "volumeName": f"{ns}-datasets",
                 "resources": {"requests": {"storage": "1Gi"}}}})
    wait_for(lambda: k8s.ok("GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/datasets")
                 .get("status", {}).get("phase") == "Bound", what="the claim bound by the PV controller")
    store = f"sqlite:///{tmp_path / 'pod.db'}"  # the kubelet runs the pod on this host: keep what it writes here
    for name, data in {"lineage-token": {"token": "t0ken"}, "lineage-store": {"store-url": store},
                       "s3": {"key-id": "AKIA", "secret": "s3cret"}}.items():
        secret(k8s, ns, name, data)
    task = ContainerTask(gpus=2, gpu_type=GPU_NODE_LABELS["nvidia.com/gpu.product"], shm_size="8Gi", cpu="4",
                         memory="16Gi", pvcs={"datasets": "/data"}, env={"HF_HOME": "/data/hf"},
                         lineage_server_url="http://lineage.ml:5000", token_secret="lineage-token",
                         store_secret="lineage-store", artifacts_url=(tmp_path / "artifacts").as_uri(),
                         secret_env={"s3": {"key-id": "AWS_ACCESS_KEY_ID", "secret": "AWS_SECRET_ACCESS_KEY"}})
    op = CachedKubernetesPodOperator(task_id="every_helper", image="python:3.11", cmds=["python", "-c", "pass"],
                                     outputs=["/tmp/o"], task=task)
    status, created = submit(k8s, ns, op.build_pod_request_obj(dry_run=True))
    assert status == 201, created
    name = created["metadata"]["name"]
    pod = wait_for(lambda: (p := k8s.ok("GET", f"/api/v1/namespaces/{ns}/pods/{name}"))["spec"].get("nodeName")
                       and p, what="the scheduler binding the pod")
    assert pod["spec"]["nodeName"] == GPU_NODE  # the only node: GPU capacity, product label, taint tolerated
    assert GPU_TAINT in pod["spec"]["tolerations"]
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    resources = pod["spec"]["containers"][0]["resources"]
    # the API server defaulted the requests to the limits (an extended resource must have them equal)
    assert resources["limits"] == resources["requests"] == {"nvidia.com/gpu": "2", "cpu": "4", "memory": "16Gi"}
    scheduled = k8s.items(f"/api/v1/namespaces/{ns}/events", "fieldSelector=reason%3DScheduled")
    assert any(e["involvedObject"]["name"] == name for e in scheduled)
    k8s.api("DELETE", f"/api/v1/persistentvolumes/{ns}-datasets")


def _plain(**kwargs: Any) -> Any:
    """The same settings on a plain KubernetesPodOperator: nothing of ours checks them."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    return KubernetesPodOperator(task_id="plain", image="python:3.11", cmds=["python"], **kwargs)


def _gpus(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> Any:
    from kubernetes.client import models as k8s_models

    return k8s_models.V1ResourceRequirements(requests=requests, limits=limits)


REFUSED = {  # what we refuse (our arguments, our message) and the same pod on a plain operator
    "gpu request differs from the limit": (
        {"container_resources": _gpus(requests={"nvidia.com/gpu": "2"}), "task": {"gpus": 1}},
        "requests '2' and gpus=1", {"container_resources": _gpus({"nvidia.com/gpu": "2"}, {"nvidia.com/gpu": "1"})}),
    "gpu request without a limit": (
        {"container_resources": _gpus(requests={"nvidia.com/gpu": "1"})}, "request 1 differs from limit None",
        {"container_resources": _gpus(requests={"nvidia.com/gpu": "1"})}),
    "fractional gpus": (
        {"container_resources": _gpus(limits={"nvidia.com/gpu": "500m"})}, "fractional GPUs",
        {"container_resources": _gpus(limits={"nvidia.com/gpu": "500m"})}),
    "gpu_type that is no label value": (
        {"task": {"gpus": 1, "gpu_type": "NVIDIA A100 80GB"}}, "not a valid node label value",
        {"node_selector": {"nvidia.com/gpu.product": "NVIDIA A100 80GB"},
         "container_resources": _gpus(limits={"nvidia.com/gpu": "1"})}),
    "accelerator that is no resource name": (
        {"task": {"gpus": 1, "accelerator": "nvidia gpu"}}, "not an extended resource name",
        {"container_resources": _gpus(limits={"nvidia gpu": "1"})}),
}


@pytest.mark.parametrize("case", REFUSED)
def test_invalid_gpu_settings_are_refused_before_submission_as_the_api_server_would(
        case: str, k8s: ControlPlane, k8s_namespace: str) -> None:
    from lineage_airflow import CachedKubernetesPodOperator, ContainerTask

    ours, message, plain = REFUSED[case]
    ours = dict(ours)
    with pytest.raises(ConfigError, match=message):
        task = ContainerTask(**ours.pop("task", {}))
        CachedKubernetesPodOperator(task_id="t", image="python:3.11", cmds=["python"], outputs=["/tmp/o"], task=task,
                                    **ours)
    status, answer = submit(k8s, k8s_namespace, _plain(**plain).build_pod_request_obj(dry_run=True))
    assert status == 422 and answer["reason"] == "Invalid", answer  # the API server refuses it too


def test_fractional_gpu_counts_are_refused_by_us() -> None:
    from lineage_airflow import ContainerTask

    with pytest.raises(ConfigError, match="fractional GPUs are refused"):
        ContainerTask(gpus=0.5)  # type: ignore[arg-type]


def test_what_only_the_api_server_can_judge_is_refused_by_it(k8s: ControlPlane, k8s_namespace: str) -> None:
    """A toleration's effect is the API's vocabulary, which we pass through: the API server says no."""
    from kubernetes.client import models as k8s_models

    from lineage_airflow import CachedKubernetesPodOperator, ContainerTask

    op = CachedKubernetesPodOperator(task_id="t", image="python:3.11", cmds=["python"], outputs=["/tmp/o"],
                                     task=ContainerTask(gpus=1), tolerations=[k8s_models.V1Toleration(
                                         key="example.com/spot", operator="Exists", effect="Sometimes")])
    status, answer = submit(k8s, k8s_namespace, op.build_pod_request_obj(dry_run=True))
    assert status == 422, answer
    assert "tolerations[0].effect" in answer["message"] and "Sometimes" in answer["message"], answer["message"]
    assert not k8s.items(f"/api/v1/namespaces/{k8s_namespace}/pods")


@pytest.fixture
def cluster(airflow_db: Path, k8s: ControlPlane, k8s_namespace: str, lineage_server: Server, lineage_home: Path,
            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The DAG's pods in a fresh namespace of the real cluster (the example DAG's ``namespace="ml"`` edited in
    the test DAG folder, pods kept after they finish so the test can read them), its secrets, the
    kubernetes_default connection, and the DAG's deployment Variables. Yields the namespace."""
    image = dag_task("gpu_finetune", "train").image
    assert image in IMAGES, "the kubelet maps the DAG's image to examples/finetune (conftest.IMAGES)"
    store_url = f"sqlite:///{lineage_home / 'lineage.db'}"
    secret(k8s, k8s_namespace, "lineage-store", {"store-url": store_url})
    secret(k8s, k8s_namespace, "lineage-token", {"token": "t0ken"})
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps({
        "conn_type": "kubernetes", "extra": {"kube_config_path": k8s.kubeconfig, "in_cluster": False}}))
    monkeypatch.setenv("AIRFLOW_VAR_MODELS_URL", str(tmp_path / "models"))
    monkeypatch.setenv("AIRFLOW_VAR_LINEAGE_ARTIFACTS_URL", (lineage_home / "artifacts").as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_LINEAGE_SERVER_URL", f"http://127.0.0.1:{lineage_server.port}")
    with edited_dag("gpu_finetune.py", 'namespace="ml"', f'namespace="{k8s_namespace}", on_finish_action="keep_pod"'):
        yield k8s_namespace


def train_runs() -> list[dict[str, Any]]:
    return list(reversed(default_store().runs(job="gpu_finetune.train")))


def test_gpu_finetune_runs_the_pod_once_then_hits_without_one(cluster: str, k8s: ControlPlane, run_dag: Any,
                                                             lineage_server: Server, tmp_path: Path) -> None:
    def pods() -> list[dict[str, Any]]:
        return k8s.items(f"/api/v1/namespaces/{cluster}/pods", "labelSelector=dag_id%3Dgpu_finetune")

    first = run_dag("gpu_finetune")
    (pod,) = pods()
    assert pod["status"]["phase"] == "Succeeded" and pod["spec"]["nodeName"] == GPU_NODE
    assert GPU_TAINT in pod["spec"]["tolerations"]
    (container,) = pod["spec"]["containers"]
    assert container["command"][:3] == ["lineage", "exec", "--"]
    pod_env = {e["name"]: e for e in container["env"]}
    assert "LINEAGE_EXEC" in pod_env and pod_env["OPENLINEAGE_URL"]["value"].startswith("http://127.0.0.1")
    assert pod_env["LINEAGE_STORE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "lineage-store", "key": "store-url"}
    out = tmp_path / "models" / "finetune"
    assert json.loads((out / "metrics.json").read_text())["rows"] == 256
    miss = xcoms(first)["train"]
    assert miss["cache"] == "miss" and set(miss["outputs"]) == {str(out)}
    (run,) = train_runs()
    assert run["status"] == "COMPLETED" and run["id"] == miss["lineage_run_id"]
    env = default_store().get_environment(run["environment_hash"])
    assert env is not None and env.image_digest == container["image"]

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
    assert len(pods()) == 1  # no pod
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
    assert len(pods()) == 2
    latest = train_runs()[-1]
    assert latest["status"] == "COMPLETED" and any("changed" in r for r in latest["reasons"]), latest["reasons"]
