"""The KFP side of the cluster: the GPU training task of the compiled finetune pipeline, as the pod a KFP
launcher would create, validated by the session's real API server (server-side dry run, strict fields).

The pipeline is compiled by the real KFP SDK in its own venv (.venv-kfp; its kubernetes client pin differs
from Airflow's), which is why this lives in the Airflow suite beside the one control plane of `make test`.
The translation follows KFP's driver: kfp-kubernetes' platform settings (``secretAsEnv``, ``nodeSelector``,
``tolerations``, ``pvcMount``, ``emptyDirMounts``) and the container's accelerator become the pod's env,
node selector, tolerations, volumes and GPU limit.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from ..services.k8s import GPU_TAINT, ControlPlane
from .conftest import ROOT

COMPILE = """
import sys
from kfp import compiler
from kfp_components.pipelines.finetune_pipeline import finetune_pipeline
compiler.Compiler().compile(finetune_pipeline, sys.argv[1])
"""


def compiled(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    out = tmp_path / "finetune.yaml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(ROOT / ".venv-kfp" / "bin" / "python"), "-c", COMPILE, str(out)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    spec, platform = yaml.safe_load_all(out.read_text())
    return spec, platform


def launcher_pod(spec: dict[str, Any], platform: dict[str, Any], executor: str) -> dict[str, Any]:
    """The pod KFP's driver makes for one executor (its main container; the launcher's init step left out)."""
    container = spec["deploymentSpec"]["executors"][executor]["container"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][executor]
    env = [{"name": e["envVar"], "valueFrom": {"secretKeyRef": {"name": s["secretName"], "key": e["secretKey"],
                                                                "optional": s.get("optional", False)}}}
           for s in k8s.get("secretAsEnv", []) for e in s["keyToEnv"]]
    volumes = [{"name": m["volumeName"], "emptyDir": {"medium": m.get("medium", ""), "sizeLimit": m["sizeLimit"]}}
               for m in k8s.get("emptyDirMounts", [])]
    mounts = [{"name": m["volumeName"], "mountPath": m["mountPath"]} for m in k8s.get("emptyDirMounts", [])]
    for m in k8s.get("pvcMount", []):
        volumes.append({"name": m["constant"], "persistentVolumeClaim": {"claimName": m["constant"]}})
        mounts.append({"name": m["constant"], "mountPath": m["mountPath"]})
    accelerator = container.get("resources", {}).get("accelerator")
    limits = {accelerator["resourceType"]: accelerator["resourceCount"]} if accelerator else {}
    main = {"name": "main", "image": container["image"], "command": container["command"],
            "args": container.get("args", []), "env": env, "volumeMounts": mounts, "resources": {"limits": limits}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "finetune-train-"},
            "spec": {"restartPolicy": "Never", "containers": [main], "volumes": volumes,
                     "nodeSelector": k8s.get("nodeSelector", {}).get("labels", {}),
                     "tolerations": k8s.get("tolerations", [])}}


def test_the_compiled_gpu_training_task_is_a_pod_the_api_server_accepts(k8s: ControlPlane, k8s_namespace: str,
                                                                        tmp_path: Path) -> None:
    spec, platform = compiled(tmp_path)
    pod = launcher_pod(spec, platform, "exec-finetune")
    status, accepted = k8s.api("POST", f"/api/v1/namespaces/{k8s_namespace}/pods", pod,
                               query="dryRun=All&fieldValidation=Strict")
    assert status == 201, accepted
    (main,) = accepted["spec"]["containers"]
    # the API server's defaulting: an extended resource's request is its limit
    assert main["resources"] == {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
    assert accepted["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert GPU_TAINT in accepted["spec"]["tolerations"]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in main["env"]} == {
        "OPENLINEAGE_API_KEY": "lineage-token", "LINEAGE_STORE_URL": "lineage-store"}
    volumes = {v["name"]: v for v in accepted["spec"]["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    assert volumes["model-cache"]["persistentVolumeClaim"]["claimName"] == "model-cache"
    assert {m["mountPath"] for m in main["volumeMounts"]} >= {"/dev/shm", "/models"}
    assert not k8s.items(f"/api/v1/namespaces/{k8s_namespace}/pods")  # a dry run: nothing was created

    # a CPU task of the same pipeline has no GPU settings, and is accepted as it is
    cpu = launcher_pod(spec, platform | {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
        "exec-make-dataset": {}}}}}}, "exec-make-dataset")
    status, accepted = k8s.api("POST", f"/api/v1/namespaces/{k8s_namespace}/pods", cpu,
                               query="dryRun=All&fieldValidation=Strict")
    assert status == 201 and not accepted["spec"]["containers"][0]["resources"], accepted
