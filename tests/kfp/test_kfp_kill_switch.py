"""The kill switch in the KFP components, under real kfp.local: with ``LINEAGE_DISABLED=true``, or a cache that
does not write (``LINEAGE_CACHE=off`` / ``read``), every cached component succeeds and writes its outputs as a
plain component would — a by-reference ``result`` holds the value itself, which the next cached component reads
back — and the store records what the mode says: nothing when disabled, runs but no entries otherwise.

No ``from __future__ import annotations`` here: KFP's pipeline decorator reads real annotations."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
from kfp import dsl

from lineage_core.runtime import default_store
from lineage_kfp import cached_component

STEPS = '''
import numpy as np
from kfp.dsl import Dataset, Input, Output


def numbers(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def total(values: np.ndarray) -> np.ndarray:
    return np.array([values.sum()])


def report(summed: np.ndarray) -> float:
    return float(summed[0])


def write_csv(values: np.ndarray, data: Output[Dataset]) -> None:
    np.savetxt(data.path, values, fmt="%d")
    data.metadata["rows"] = len(values)


def count(data: Input[Dataset]) -> int:
    return len(open(data.path).read().split())
'''
JOBS = ("numbers", "total", "report", "write_csv", "count")


@pytest.fixture
def pipeline(kfp_local: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    steps_dir = tmp_path / "steps"
    steps_dir.mkdir()
    (steps_dir / "kill_switch_steps.py").write_text(STEPS)
    monkeypatch.syspath_prepend(str(steps_dir))
    monkeypatch.setenv("PYTHONPATH", f"{steps_dir}:{os.environ['PYTHONPATH']}")
    import kill_switch_steps as s

    c = {name: cached_component(name=f"kill_switch.{name}")(getattr(s, name)) for name in JOBS}

    @dsl.pipeline(name="kill-switch")
    def kill_switch(n: int = 4) -> float:
        values = c["numbers"](n=n).output
        c["count"](data=c["write_csv"](values=values).outputs["data"])
        return c["report"](summed=c["total"](values=values).output).output

    return kill_switch


def runs(job: str) -> list[dict[str, Any]]:
    return list(reversed(default_store().runs(job=f"kill_switch.{job}")))


def entries(job: str) -> int:
    store = default_store()
    return sum(store.lookup(r["cache_key"]) is not None for r in runs(job))


def latest_run_dir(root: Path) -> Path:
    return max((p for p in root.iterdir() if p.name.startswith("kill-switch-")), key=lambda p: p.stat().st_mtime)


@pytest.mark.parametrize("env", [{"LINEAGE_DISABLED": "true"}, {"LINEAGE_CACHE": "off"}, {"LINEAGE_CACHE": "read"}],
                         ids=["disabled", "off", "read"])
def test_components_write_plain_outputs_and_record_what_the_mode_says(
        env: dict[str, str], pipeline: Any, kfp_local: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for _ in range(2):
        assert pipeline().output == 10.0  # downstream of a plain `result`, by reference and KFP-style
        run_dir = latest_run_dir(kfp_local)
        (numbers_result,) = run_dir.glob("numbers/result")
        assert json.loads((numbers_result / "lineage-value.json").read_text())["materializer"].startswith("numpy@")
        executor = json.loads((run_dir / "count" / "executor_output.json").read_text())
        assert executor["parameterValues"]["Output"] == 4
        (data,) = run_dir.glob("write-csv/data")
        assert data.read_text().split() == ["1", "2", "3", "4"]
    for job in JOBS:
        if "LINEAGE_DISABLED" in env:
            assert runs(job) == [], job
        else:
            assert [r["status"] for r in runs(job)] == ["COMPLETED", "COMPLETED"] and entries(job) == 0, job


def test_a_read_only_cache_serves_hits_as_plain_values(pipeline: Any, kfp_local: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert pipeline().output == 10.0  # readwrite: references
    ref = json.loads(next(latest_run_dir(kfp_local).glob("numbers/result")).read_text())
    assert ref["__lineage_artifact__"] == 1
    monkeypatch.setenv("LINEAGE_CACHE", "read")
    assert pipeline().output == 10.0
    first, hit = runs("numbers")  # its input is a parameter, as in the first run: a hit
    assert (hit["status"], hit["source_run_id"]) == ("CACHED", first["id"])
    # downstream the input arrives by value now, not by the reference the entries were keyed with: misses,
    # run and recorded, nothing stored
    for job in ("total", "write_csv"):
        assert [r["status"] for r in runs(job)] == ["COMPLETED", "COMPLETED"] and entries(job) == 1, job
