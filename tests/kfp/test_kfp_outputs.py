"""Components written the KFP way (Input/Output artifacts, a returned parameter) on the real KFP SDK: a hit
writes the cached Dataset/Model files and metadata into the task's outputs, byte for byte, and the function
does not run; an input artifact is keyed by its content."""

from __future__ import annotations

import json
from pathlib import Path

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
