"""The KFP suite: the real KFP SDK in its own venv (.venv-kfp, with pip inside: kfp.local's task command runs
``pip install kfp==<installed>``, a no-op offline), pipelines run by ``kfp.local.SubprocessRunner`` in
subprocesses of this venv. Every test gets its own LINEAGE_HOME (tests/conftest.py), which the task
subprocesses inherit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dags"))  # the step functions the Airflow DAG shares (sklearn_steps), as in an image


@pytest.fixture
def kfp_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """kfp.local with the subprocess runner in this venv; KFP's own cache off unless a test turns it on."""
    from kfp import local

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(ROOT / "dags"), os.environ.get("PYTHONPATH", "")]))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "pipeline-root"))
    return tmp_path / "pipeline-root"
