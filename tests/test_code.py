from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lineage_core.code import fingerprint_code, hash_file_deps
from lineage_core.errors import ConfigError

BASE = '''
import numpy as np
import json

def step(x, factor=2):
    """Docstring."""
    return np.sum(x) * factor
'''


def fp(make_module: Callable[..., ModuleType], src: str, name: str = "step") -> str:
    # one module name for every variant: a part is named after its module, so only the code differs
    return fingerprint_code(getattr(make_module(src, name="stepmod"), name)).hash


@pytest.mark.parametrize(
    "variant",
    [
        # formatting, comments, blank lines, docstring, decorator arguments: no change
        BASE.replace("return np.sum(x) * factor", "return np.sum( x )*factor  # comment\n\n"),
        BASE.replace('"""Docstring."""', '"""Another docstring."""'),
        BASE.replace('    """Docstring."""\n', ""),
        "import functools\n" + BASE.replace("def step", "@functools.lru_cache(maxsize=3)\ndef step"),
    ],
)
def test_cosmetic_changes_keep_the_fingerprint(make_module: Callable[..., ModuleType], variant: str) -> None:
    base = fingerprint_code(make_module(BASE, name="stepmod").step)
    other = make_module(variant, name="stepmod").step
    assert fingerprint_code(getattr(other, "__wrapped__", other)).hash == base.hash


@pytest.mark.parametrize(
    "variant",
    [
        BASE.replace("* factor", "+ factor"),
        BASE.replace("factor=2", "factor=3"),
        BASE.replace("np.sum(x)", "np.mean(x)"),
    ],
)
def test_semantic_changes_change_the_fingerprint(make_module: Callable[..., ModuleType], variant: str) -> None:
    assert fp(make_module, BASE) != fp(make_module, variant)


def test_helpers_in_user_modules_count_transitively(make_module: Callable[..., ModuleType]) -> None:
    make_module("def inner(x):\n    return x + 1\n", name="helpers_inner")
    make_module("import helpers_inner\ndef normalise(x):\n    return helpers_inner.inner(x) * 2\n", name="prep")
    main = "from prep import normalise\ndef total(x):\n    return normalise(x)\n"
    first = fingerprint_code(make_module(main, name="pipeline").total)
    assert "normalise() in prep.py" in first.parts and "inner() in helpers_inner.py" in first.parts
    make_module("def inner(x):\n    return x + 2\n", name="helpers_inner")
    make_module("import helpers_inner\ndef normalise(x):\n    return helpers_inner.inner(x) * 2\n", name="prep")
    second = fingerprint_code(make_module(main, name="pipeline").total)
    assert second.hash != first.hash
    changed = [k for k in first.parts if first.parts[k] != second.parts.get(k)]
    assert changed == ["inner() in helpers_inner.py"]


def test_module_constants_and_classes_count(make_module: Callable[..., ModuleType]) -> None:
    src = "THRESHOLD = 0.5\nclass Scaler:\n    def apply(self, x):\n        return x * 2\n" \
          "def step(x):\n    return Scaler().apply(x) > THRESHOLD\n"
    a = fingerprint_code(make_module(src, name="stepmod").step)
    b = fingerprint_code(make_module(src.replace("0.5", "0.7"), name="stepmod").step)
    c = fingerprint_code(make_module(src.replace("x * 2", "x * 3"), name="stepmod").step)
    assert len({a.hash, b.hash, c.hash}) == 3
    assert any(k.startswith("global THRESHOLD") for k in a.parts)
    assert any(k.startswith("class Scaler") for k in a.parts)


def test_site_packages_are_not_user_code_but_are_recorded_as_imports(make_module: Callable[..., ModuleType]) -> None:
    src = "import numpy as np\nfrom sklearn.linear_model import LogisticRegression\nimport json\n" \
          "def step(x):\n    import pandas\n    return LogisticRegression(), np.sum(x), json.dumps(x)\n"
    f = fingerprint_code(make_module(src).step)
    assert list(f.parts) == [next(iter(f.parts))]  # only the step itself
    assert {"numpy", "sklearn", "pandas"} <= f.external_modules


def test_code_deps_and_file_deps(make_module: Callable[..., ModuleType], tmp_path: Path) -> None:
    dep = make_module("def extra():\n    return 1\n")
    step = make_module("def step():\n    return 0\n").step
    assert fingerprint_code(step, [dep.extra]).hash != fingerprint_code(step).hash
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "a.yaml").write_text("a: 1")
    files = hash_file_deps(["cfg/*.yaml"], str(tmp_path))
    assert list(files) == ["file cfg/a.yaml"]
    (tmp_path / "cfg" / "a.yaml").write_text("a: 2")
    assert hash_file_deps(["cfg/*.yaml"], str(tmp_path)) != files
    with pytest.raises(ConfigError, match="matches no file"):
        hash_file_deps(["missing/*.txt"], str(tmp_path))


_STEP = """
import json, sys
import mylib
from lineage_core import cached, explain

@cached(name="target.scale")
def scale(x: int) -> int:
    return mylib.scale(x)

value = scale(3)
outcome = explain(scale)
print(json.dumps({"value": value, "hit": outcome.hit, "reasons": outcome.reasons,
                  "code": sorted(scale.manifest(3).components["code"]),
                  "packages": scale.manifest(3).components["env"]["packages"]}))
"""


def _install_target(target: Path, version: str, factor: int) -> None:
    """What ``pip install --target DIR mylib==VERSION`` leaves: the package and its dist-info (RECORD names
    the files). The behaviour lives in a data file, so an upgrade changes no Python code."""
    import shutil

    shutil.rmtree(target, ignore_errors=True)
    pkg = target / "mylib"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from pathlib import Path\n"
        "FACTOR = int((Path(__file__).parent / 'factor.txt').read_text())\n"
        "def scale(x):\n    return x * FACTOR\n")
    (pkg / "factor.txt").write_text(str(factor))
    info = target / f"mylib-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mylib\nVersion: {version}\n")
    (info / "top_level.txt").write_text("mylib\n")
    (info / "RECORD").write_text(f"mylib/__init__.py,,\nmylib/factor.txt,,\nmylib-{version}.dist-info/METADATA,,\n"
                                 f"mylib-{version}.dist-info/RECORD,,\n")


def test_a_distribution_installed_with_target_is_keyed_by_its_version(tmp_path: Path) -> None:
    """``pip install --target DIR`` + ``PYTHONPATH`` (images, layers): the package is not user code. Upgrading
    it without a Python change is a miss that names the upgrade — never a stale hit with the old value."""
    import json
    import os
    import subprocess
    import sys

    target, app = tmp_path / "target", tmp_path / "app"
    app.mkdir()
    (app / "step.py").write_text(_STEP)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(app), str(target)]),
           "LINEAGE_HOME": str(tmp_path / "home")}

    def run() -> dict[str, Any]:
        proc = subprocess.run([sys.executable, str(app / "step.py")], env=env, capture_output=True, text=True,
                              check=True, cwd=app)
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))

    _install_target(target, "1.0", 2)
    first = run()
    assert first["value"] == 6 and not first["hit"]
    assert not [p for p in first["code"] if "mylib" in p]  # the distribution is not fingerprinted as code
    assert first["packages"] == {"mylib": "1.0"}
    assert run()["hit"]

    _install_target(target, "1.1", 3)
    upgraded = run()
    assert upgraded["value"] == 9 and not upgraded["hit"]
    assert "package mylib 1.0 → 1.1" in upgraded["reasons"]
    assert run()["hit"]
