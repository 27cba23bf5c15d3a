"""What a KFP GPU task's hit saved: the finetune pipeline's training task (gpu_training_component: one GPU of
type NVIDIA-A100-SXM4-80GB) records its resource class on its runs, so a rerun's hit counts the training run's
duration times one GPU as GPU-hours (lineage_core.store.savings, what ``lineage stats`` prints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage_core.runtime import default_store
from lineage_core.store.savings import savings

GPU = {"gpu_resource": "nvidia.com/gpu", "gpus": 1, "gpu_type": "NVIDIA-A100-SXM4-80GB"}


def test_a_gpu_task_hit_saves_its_training_runs_gpu_hours(kfp_local: Path) -> None:
    from kfp_components.pipelines.finetune_pipeline import finetune_pipeline

    finetune_pipeline()
    finetune_pipeline()  # all hits
    store = default_store()
    train = {r["status"]: r for r in store.runs(job="finetune.train")}
    assert set(train) == {"COMPLETED", "CACHED"} and train["CACHED"]["source_run_id"] == train["COMPLETED"]["id"]
    assert train["COMPLETED"]["context"]["resources"] == GPU  # recorded where the task ran
    assert "resources" not in (store.get_run(store.runs(job="finetune.make_dataset")[0]["id"])["context"] or {})
    duration = train["COMPLETED"]["ended_at"] - train["COMPLETED"]["started_at"]
    report = savings(store).to_dict()
    assert report["totals"]["gpu_hours_saved"] == pytest.approx(duration / 3600, abs=1e-9) and duration > 0
    assert report["gpu_hours_by_type"] == {GPU["gpu_type"]: pytest.approx(duration / 3600, abs=1e-9)}
    sources = [store.get_run(r["source_run_id"]) for r in store.runs(limit=1000) if r["status"] == "CACHED"]
    assert report["totals"]["compute_seconds_saved"] == pytest.approx(
        sum(s["ended_at"] - s["started_at"] for s in sources), abs=1e-6)
