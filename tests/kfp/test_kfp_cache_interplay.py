"""How KFP's own cache (kfp.local's, ``enable_caching=True``) and ours interact when both are on for a task:
a KFP hit skips the task's code entirely — nothing is checked, recorded or emitted — and KFP's key is the
component's command and arguments, so it cannot see an edit to the function's module: it serves the old
output. With KFP's cache off for the task (cached_component's default), ours sees the edit and recomputes.

No ``from __future__ import annotations`` here: KFP's pipeline decorator reads real annotations."""

import sys
from pathlib import Path

import pytest
from kfp import dsl, local

from lineage_core.runtime import default_store
from lineage_kfp import cached_component

STEP = "interplay.scale"


def write_steps(where: Path, factor: int) -> None:
    (where / "interplay_steps.py").write_text(f"def scale(x: int) -> int:\n    return x * {factor}\n")
    sys.modules.pop("interplay_steps", None)


def pipeline(kfp_cache: bool):
    import interplay_steps

    scale = cached_component(name=STEP, kfp_cache=kfp_cache)(interplay_steps.scale)

    @dsl.pipeline(name="interplay")
    def interplay(x: int = 7) -> int:
        return scale(x=x).output

    return interplay


def statuses() -> list[str]:
    return [r["status"] for r in reversed(default_store().runs(job=STEP))]


def test_kfp_cache_and_ours_both_on(kfp_local: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps_dir = tmp_path / "steps"
    steps_dir.mkdir()
    monkeypatch.syspath_prepend(str(steps_dir))
    monkeypatch.setenv("PYTHONPATH", f"{steps_dir}:{__import__('os').environ['PYTHONPATH']}")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(kfp_local), enable_caching=True)
    write_steps(steps_dir, 2)

    assert pipeline(kfp_cache=True)().output == 14
    assert statuses() == ["COMPLETED"]
    assert pipeline(kfp_cache=True)().output == 14
    assert statuses() == ["COMPLETED"]  # KFP's hit: our code never ran, so no run, no check, no event

    write_steps(steps_dir, 3)  # the function changes; the component's command and arguments do not
    assert pipeline(kfp_cache=True)().output == 14  # KFP serves the output of the old code
    assert statuses() == ["COMPLETED"]

    assert pipeline(kfp_cache=False)().output == 21  # ours alone: the edit is a miss
    assert statuses() == ["COMPLETED", "COMPLETED"]
    (latest, *_) = default_store().runs(job=STEP, limit=1)
    assert any("code changed" in r for r in latest["reasons"]), latest["reasons"]
    assert pipeline(kfp_cache=False)().output == 21
    assert statuses() == ["COMPLETED", "COMPLETED", "CACHED"]
