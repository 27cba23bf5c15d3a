"""Getting a past run's result back out of runs produced by KFP components (kfp.local): a component's outputs
(Dataset/Model files, their metadata and the returned parameter, cached as one tree) by ``lineage_core.load`` and
``lineage get``, a hit's being its source run's, byte for byte what the task wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lineage_core import load
from lineage_core.runtime import default_store


def test_a_components_outputs_come_back(kfp_local: Path, tmp_path: Path) -> None:
    from kfp_components.pipelines.finetune_pipeline import finetune_pipeline

    finetune_pipeline()
    finetune_pipeline()  # all hits
    hit, miss = default_store().runs(job="finetune.train")
    assert (hit["status"], hit["source_run_id"]) == ("CACHED", miss["id"])
    (first, *_) = sorted(p for p in kfp_local.iterdir() if p.name.startswith("finetune-"))
    written = (first / "finetune" / "model" / "weights.npy").read_bytes()
    tree = load(hit["id"])
    (weights,) = tree.rglob("weights.npy")
    assert weights.read_bytes() == written
    p = subprocess.run([sys.executable, "-m", "lineage_core.cli", "get", hit["id"], "-o", str(tmp_path / "got")],
                       capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert p.returncode == 0, p.stderr
    (again,) = (tmp_path / "got").rglob("weights.npy")
    assert again.read_bytes() == written
    meta = json.loads(subprocess.run([sys.executable, "-m", "lineage_core.cli", "get", hit["id"], "--json"],
                                     capture_output=True, text=True, env=os.environ.copy(), timeout=120).stdout)
    assert meta["artifact"]["materializer"].startswith("path@") and meta["source_run_id"] == miss["id"]
