"""The same step on different hosts — an Airflow worker venv and a KFP component venv, which cannot be
one environment — is one cache entry: the orchestrator is not part of the key, and env="imports" only
counts the packages the step imports (numpy here, pinned alike in both)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the host venvs

ROOT = Path(__file__).resolve().parent.parent


def host_pythons() -> list[str]:
    listed = os.environ.get("LINEAGE_TEST_HOST_VENVS", ".venv-airflow:.venv-kfp")
    pythons = [ROOT / v / "bin" / "python" for v in listed.split(":")]
    missing = [str(p) for p in pythons if not p.exists()]
    if missing:
        pytest.fail(f"host venvs missing: {missing} (make host-venvs builds them)")
    return [str(p) for p in pythons]


STEP = textwrap.dedent('''
    import numpy as np
    from lineage_core import cached

    @cached(name="shared.features")
    def features(n: int) -> list:
        return np.arange(n).tolist()
''')

CALL = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import shared_step
    from lineage_core import explain
    shared_step.features(5)
    out = explain(shared_step.features)
    print(json.dumps({"hit": out.hit, "reasons": out.reasons,
                      "airflow": "airflow" in sys.modules, "kfp": "kfp" in sys.modules}))
''')


def test_one_entry_across_host_venvs(tmp_path: Path) -> None:
    (tmp_path / "shared_step.py").write_text(STEP)
    env = {**os.environ, "LINEAGE_HOME": str(tmp_path / "home")}
    results = []
    for py in [*host_pythons(), sys.executable]:
        out = subprocess.run([py, "-c", CALL, str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert [r["hit"] for r in results] == [False, True, True], results
    assert not any(r["airflow"] or r["kfp"] for r in results)  # the core never imports an orchestrator


def test_host_venvs_have_their_orchestrator() -> None:
    airflow_py, kfp_py = host_pythons()
    code = "import importlib.metadata as m; print(m.version('{}'))"
    assert subprocess.run([airflow_py, "-c", code.format("apache-airflow")], capture_output=True,
                          text=True, check=True).stdout.startswith("3.")
    assert subprocess.run([kfp_py, "-c", code.format("kfp")], capture_output=True,
                          text=True, check=True).stdout.startswith("2.")
