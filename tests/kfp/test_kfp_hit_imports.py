"""A KFP task's hit imports only what a hit needs: the task processes kfp.local starts (fresh interpreters, as pods
are) write the modules they ended with, and the cached component's hit may add to a plain component's only the
hit path's own modules — not the SQL store, a miss's metrics and output hashing, the remote-input types, or a heavy
client. (No ``from __future__ import annotations``: KFP reads the pipeline's real annotations.)"""


import os
from pathlib import Path

import pytest
from kfp import dsl

from lineage_core.runtime import default_store
from lineage_kfp import cached_component

STEPS = '''
from kfp.dsl import Metrics, Output


def score(x: int, metrics: Output[Metrics]) -> int:
    metrics.log_metric("score", float(x))
    return x * 2
'''
REPORT = '''
import atexit, os, sys


def _report():
    with open(os.path.join(os.environ["TASK_MODULES_DIR"], f"{os.getpid()}.txt"), "w") as f:
        f.write("\\n".join(sorted(sys.modules)))


if os.environ.get("_KFP_RUNTIME") == "true":
    atexit.register(_report)
'''
NOT_ON_A_HIT = ("sqlalchemy", "alembic", "fsspec", "pandas", "requests", "pydantic", "openlineage.client",
                "lineage_core.metrics", "lineage_core.hashing.remote", "lineage_core.refs",
                "lineage_core.store.metadata", "lineage_core.store.leases")


def test_a_kfp_tasks_hit_adds_only_the_hit_paths_modules(kfp_local: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "hit_import_steps.py").write_text(STEPS)
    (code / "sitecustomize.py").write_text(REPORT)  # the first sitecustomize on the task's path: this one
    reports = tmp_path / "modules"
    reports.mkdir()
    monkeypatch.setenv("TASK_MODULES_DIR", str(reports))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(code), os.environ["PYTHONPATH"]]))
    monkeypatch.syspath_prepend(str(code))
    import hit_import_steps

    cached = cached_component(name="imports.score", base_image="python:3.11")(hit_import_steps.score)
    plain = dsl.component(hit_import_steps.score, base_image="python:3.11")

    def modules_of(component: object) -> set[str]:
        @dsl.pipeline(name="imports")
        def one() -> int:
            return component(x=21).set_caching_options(False).outputs["Output"]  # type: ignore[operator, attr-defined]

        before = set(reports.iterdir())
        assert one().output == 42  # type: ignore[attr-defined]
        (report,) = set(reports.iterdir()) - before
        return set(report.read_text().split())

    modules_of(cached)  # the miss: computes, stores
    hit = modules_of(cached)
    baseline = modules_of(plain)
    (run, *_) = default_store().runs(job="imports.score", limit=1)
    assert run["status"] == "CACHED"
    added = hit - baseline
    assert "lineage_core.store.fast_sqlite" in added  # the check sees our modules
    heavy = sorted(m for m in added for name in NOT_ON_A_HIT if m == name or m.startswith(name + "."))
    assert heavy == []
