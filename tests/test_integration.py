"""The integration surface: every name it declares resolves, and the adapters import the core only through it
(or the top-level ``lineage_core`` package)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lineage_core.integration as integration

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = [ROOT / "providers", ROOT / "kfp_components"]


def test_every_declared_name_resolves() -> None:
    for name in integration.__all__:
        assert getattr(integration, name) is not None, name
    assert sorted(integration.__all__) == sorted(set(integration.__all__))


def test_adapters_import_only_the_integration_surface() -> None:
    offenders = []
    for root in ADAPTERS:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                              if n.startswith("lineage_core.") and n != "lineage_core.integration"]
    assert offenders == []


def test_importing_the_surface_loads_nothing_heavy() -> None:
    code = ("import sys, lineage_core.integration; "
            "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'lineage_core.cache', 'fsspec'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
