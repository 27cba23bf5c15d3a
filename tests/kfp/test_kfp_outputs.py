"""Components written the KFP way (Input/Output artifacts, a returned parameter) on the real KFP SDK: a hit
writes the cached Dataset/Model files and metadata into the task's outputs, byte for byte, and the function
does not run; an input artifact is keyed by its content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp.dsl import Artifact, Output, OutputPath

from lineage_core.runtime import default_store

STEPS = ("make_dataset", "train")


def statuses() -> dict[str, list[str]]:
    store = default_store()
    return {s: [r["status"] for r in reversed(store.runs(job=f"finetune.{s}"))] for s in STEPS}


def files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != "executor_output.json"}


def test_outputs_restored_on_a_hit(kfp_local: Path) -> None:
    from kfp_components.pipelines.finetune_pipeline import finetune_pipeline

    first = finetune_pipeline()
    assert statuses() == {s: ["COMPLETED"] for s in STEPS}
    second = finetune_pipeline()
    assert statuses() == {s: ["COMPLETED", "CACHED"] for s in STEPS}  # neither function ran
    assert second.output == first.output and 0 < first.output < 0.1  # the returned parameter, from the cache

    runs = sorted(p for p in kfp_local.iterdir() if p.name.startswith("finetune-"))
    assert len(runs) == 2
    before, after = files(runs[0]), files(runs[1])
    assert set(after) == {"make-dataset/dataset", "finetune/model/weights.npy", "finetune/model/config.json"}
    assert after == before  # every output file, byte for byte
    executor = json.loads((runs[1] / "finetune" / "executor_output.json").read_text())
    (model,) = executor["artifacts"]["model"]["artifacts"]
    assert model["metadata"]["framework"] == "numpy"  # what the function set, restored
    assert model["metadata"]["lineage_cache"] == "hit" and model["metadata"]["lineage_hash"].startswith("blake3:")
    (metrics,) = executor["artifacts"]["metrics"]["artifacts"]
    assert metrics["metadata"] == {"mse": first.output, "epochs": 200.0}  # metrics stay metrics only
    (train_run, *_) = default_store().runs(job="finetune.train", limit=1)
    assert train_run["context"]["orchestrator"] == "kfp"
    outs = train_run["context"]["datasets"]["outputs"]
    assert any(o.endswith("/finetune/model") for o in outs) and any(o.endswith("/finetune/metrics") for o in outs)


def test_changed_input_artifact_reruns_downstream(kfp_local: Path) -> None:
    from kfp_components.pipelines.finetune_pipeline import finetune_pipeline

    finetune_pipeline()
    finetune_pipeline(rows=128)  # a new dataset: its content, not its location, keys the training task
    assert statuses() == {s: ["COMPLETED", "COMPLETED"] for s in STEPS}
    (latest, *_) = default_store().runs(job="finetune.train", limit=1)
    assert any("input 'dataset' changed" in r for r in latest["reasons"]), latest["reasons"]
    finetune_pipeline(epochs=200)  # back to the first parameters: both tasks are hits again
    (latest, *_) = default_store().runs(job="finetune.train", limit=1)
    assert latest["status"] == "CACHED"


def test_compiled_gpu_training_task(tmp_path: Path) -> None:
    """What a cluster would run: GPU request in the container spec; node selector, GPU toleration, /dev/shm,
    the model-cache volume and the store/token secrets as env in the Kubernetes platform document."""
    import yaml
    from kfp import compiler

    from kfp_components.pipelines.finetune_pipeline import finetune_pipeline

    compiler.Compiler().compile(finetune_pipeline, str(tmp_path / "p.yaml"))
    spec, platform = yaml.safe_load_all((tmp_path / "p.yaml").read_text())
    container = spec["deploymentSpec"]["executors"]["exec-finetune"]["container"]
    assert container["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert container["resources"]["accelerator"]["resourceCount"] == "1"
    assert "accelerator" not in spec["deploymentSpec"]["executors"]["exec-make-dataset"]["container"].get(
        "resources", {})
    train = spec["components"]["comp-finetune"]
    assert set(train["inputDefinitions"]["artifacts"]) == {"dataset"}
    assert {k: v["artifactType"]["schemaTitle"] for k, v in train["outputDefinitions"]["artifacts"].items()} == {
        "model": "system.Model", "metrics": "system.Metrics"}
    assert train["outputDefinitions"]["parameters"] == {"Output": {"parameterType": "NUMBER_DOUBLE"}}

    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-finetune"]
    assert k8s["nodeSelector"]["labels"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert k8s["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert k8s["emptyDirMounts"] == [{"medium": "Memory", "mountPath": "/dev/shm", "sizeLimit": "8Gi",
                                      "volumeName": "dshm"}]
    assert [(m["constant"], m["mountPath"]) for m in k8s["pvcMount"]] == [("model-cache", "/models")]
    env = {(s["secretName"], e["secretKey"]): e["envVar"] for s in k8s["secretAsEnv"] for e in s["keyToEnv"]}
    assert env == {("lineage-store", "store-url"): "LINEAGE_STORE_URL",
                   ("lineage-token", "token"): "OPENLINEAGE_API_KEY"}
    assert "exec-make-dataset" not in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_signature_errors_name_the_problem() -> None:
    from lineage_core.errors import ConfigError, SignatureError
    from lineage_kfp import cached_component, gpu_training_component

    def star(*values: int) -> int:
        return 0

    def path_style(out: OutputPath(str)) -> None:  # type: ignore[valid-type]
        pass

    def unresolvable(x: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    def writes_and_returns_frame(out: Output[Artifact]) -> bytes:
        return b""

    with pytest.raises(SignatureError, match=r"\*args/\*\*kwargs"):
        cached_component(star)
    with pytest.raises(SignatureError, match="InputPath/OutputPath"):
        cached_component(path_style)
    with pytest.raises(SignatureError, match="annotations cannot be evaluated"):
        cached_component(unresolvable)
    with pytest.raises(SignatureError, match="returns None or a KFP parameter type"):
        cached_component(writes_and_returns_frame)
    with pytest.raises(ConfigError, match="at least one GPU"):
        gpu_training_component(star, gpus=0)


def test_tampered_stored_output_is_a_miss_not_a_wrong_model(kfp_local: Path) -> None:
    import os

    from kfp_components.pipelines.finetune_pipeline import finetune_pipeline
    from lineage_core.hashing.content import hash_path

    finetune_pipeline()
    (run_dir,) = [p for p in kfp_local.iterdir() if p.name.startswith("finetune-")]
    weights = run_dir / "finetune" / "model" / "weights.npy"
    blob = Path(default_store().artifacts.path_for(hash_path(weights)))
    os.chmod(blob, 0o644)
    blob.write_bytes(b"not the weights")  # the stored copy of one output file goes bad

    finetune_pipeline()
    assert statuses() == {"make_dataset": ["COMPLETED", "CACHED"], "train": ["COMPLETED", "COMPLETED"]}
    (latest, *_) = default_store().runs(job="finetune.train", limit=1)
    assert any("failed verification" in r for r in latest["reasons"]), latest["reasons"]
    (second,) = [p for p in kfp_local.iterdir() if p.name.startswith("finetune-") and p != run_dir]
    assert (second / "finetune" / "model" / "weights.npy").read_bytes() == weights.read_bytes()
