"""README's "Something broke: roll back" runs as written: its bash block, in a fresh directory with this venv's
``python`` and ``lineage`` first on PATH, against the test's store (both backends)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("backend")

README = Path(__file__).resolve().parents[1] / "README.md"


def section_block(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    after = text[text.index(f"### {heading}\n"):]
    found = re.search(r"```bash\n(.*?)```", after, re.S)
    assert found, f"no bash block under {heading!r}"
    return found[1]


def test_the_roll_back_section_runs_as_written(tmp_path: Path) -> None:
    block = section_block("Something broke: roll back")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert re.search(r"rolled back train@prod: \S+ → \S+\n", p.stdout), p.stdout
    assert "parameter 'lr' changed: 0.5 → 0.1" in p.stdout
    assert json.loads((tmp_path / "model.json").read_text()) == {"lr": 0.1, "weights": [0.2, 0.4]}
    pins = (tmp_path / "requirements.txt").read_text().splitlines()
    assert pins[1].startswith("# python ") and any(line.startswith("typer==") for line in pins)
    assert p.stdout.rstrip().endswith("{'lr': 0.1, 'weights': [0.2, 0.4]}")
