"""Code shapes kept on disk (lineage_core.code_shapes): a fresh process fingerprints a step from its source file's
kept shape instead of parsing the file, gets exactly the fingerprint parsing gives, and resolves what the shape
references live (a constant computed at import counts as it is now)."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lineage_core import code_shapes, home_cache
from lineage_core.code import fingerprint_code

HELPER = '''
SCALE = 3

def scale(x):
    return x * SCALE
'''

STEP = '''
import functools
import json

import numpy as np

import {helper} as helper

OFFSET = 0.5

def _clip(v, lo=0):
    """Docstring."""
    return max(v, lo)

def _memo(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)
    return wrapper

@_memo
def step(x, factor=2):
    """The step."""
    from {helper} import SCALE  # the whole helper module counts (its module shape)

    inner = lambda y: y + OFFSET * SCALE
    return json.dumps(_clip(helper.scale(np.sum(x))) * factor + inner(1))
'''


def _records(home: Path) -> list[Path]:
    return sorted((home / "cache").glob("code-*.json"))


def _new_process() -> None:
    """What a new process has read: no record yet (the linecache of this one may still hold the sources)."""
    code_shapes._read.clear()


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(source: str) -> Any:
        raise AssertionError("a kept shape was parsed again")

    monkeypatch.setattr(code_shapes, "_parse", parse)


def _settle(monkeypatch: pytest.MonkeyPatch, window_ns: int = 50_000_000) -> None:
    """Files unchanged for 50 ms count as settled (instead of 2 s), and this waits that long."""
    monkeypatch.setattr(home_cache, "SETTLED_NS", window_ns)
    time.sleep(2 * window_ns / 1e9)


def _step(make_module: Callable[..., ModuleType]) -> Any:
    helper = make_module(HELPER)
    return make_module(STEP.format(helper=helper.__name__)).step


def test_a_kept_shape_gives_the_fingerprint_that_parsing_gives(
    make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch, lineage_home: Path,
) -> None:
    step = _step(make_module)
    _settle(monkeypatch)
    parsed = fingerprint_code(step)
    assert len(_records(lineage_home)) == 2  # the step's file (its defs) and the helper module's
    assert any(k.startswith("module ") for k in parsed.parts) and "numpy" in parsed.external_modules
    _new_process()
    _no_parsing(monkeypatch)
    assert fingerprint_code(step) == parsed


def test_a_constant_computed_at_import_counts_as_it_is_now(
    make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHAPE_LIMIT", "1")
    mod = make_module("import os\nLIMIT = int(os.environ['SHAPE_LIMIT'])\n\ndef step(x):\n    return min(x, LIMIT)\n")
    _settle(monkeypatch)
    before = fingerprint_code(mod.step)
    monkeypatch.setenv("SHAPE_LIMIT", "2")
    importlib.reload(mod)  # the same file (its shape is kept), another value
    _new_process()
    _no_parsing(monkeypatch)
    after = fingerprint_code(mod.step)
    changed = {k for k in after.parts if after.parts[k] != before.parts.get(k)}
    assert after.hash != before.hash and changed == {f"global LIMIT in {mod.__name__}.py"}


def test_a_rewrite_of_the_same_size_is_parsed_and_kept_only_once_settled(
    make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch, lineage_home: Path,
) -> None:
    name = "rewritten"
    first = make_module("def step(x):\n    return x + 1\n", name=name)
    _settle(monkeypatch)
    plus = fingerprint_code(first.step)
    record = _records(lineage_home)[0]
    kept = record.read_text()
    second = make_module("def step(x):\n    return x - 1\n", name=name)  # same size, within the settle window
    _new_process()
    minus = fingerprint_code(second.step)
    assert minus.hash != plus.hash
    assert record.read_text() == kept  # unsettled: nothing kept under the new identity
    time.sleep(0.1)
    _new_process()
    assert fingerprint_code(second.step) == minus  # settled now: parsed once more and kept
    assert record.read_text() != kept
    _new_process()
    _no_parsing(monkeypatch)
    assert fingerprint_code(second.step) == minus


def test_a_file_changed_within_the_settle_window_keeps_no_shape(
    make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch, lineage_home: Path,
) -> None:
    step = _step(make_module)
    monkeypatch.setattr(home_cache, "SETTLED_NS", 3600 * 10**9)
    fingerprint_code(step)
    assert _records(lineage_home) == []


@pytest.mark.parametrize("damage", [
    lambda r: "not json",
    lambda r: json.dumps({**r, "python": "2.7.18"}),
    lambda r: json.dumps({**r, "schema": code_shapes.SCHEMA + 1}),
    lambda r: json.dumps({**r, "identity": [0, 0, 0, 0, 0]}),
    lambda r: json.dumps({**r, "shapes": {k: ["blake3:0", [["x", "os"]]] for k in r["shapes"]}}),
    lambda r: json.dumps({**r, "shapes": {k: ["blake3:0", [["f", -1, "os"]]] for k in r["shapes"]}}),
    lambda r: json.dumps({**r, "shapes": {k: ["blake3:0", [["c"]]] for k in r["shapes"]}}),
    lambda r: json.dumps({**r, "shapes": {k: [None, []] for k in r["shapes"]}}),
    lambda r: json.dumps({**r, "shapes": {k: "blake3:0" for k in r["shapes"]}}),
    lambda r: json.dumps({**r, "shapes": []}),
])
def test_a_damaged_or_foreign_record_is_not_used(
    make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch, lineage_home: Path,
    damage: Callable[[dict[str, Any]], str],
) -> None:
    step = _step(make_module)
    _settle(monkeypatch)
    parsed = fingerprint_code(step)
    for record in _records(lineage_home):
        record.write_text(damage(json.loads(record.read_text())))
    _new_process()
    assert fingerprint_code(step) == parsed


def test_an_empty_user_module_adds_no_part_kept_or_not(
    make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As inspect finds no source in an empty file, an empty user module (a package's bare ``__init__.py``) is
    no part of a fingerprint, whether its shape could be kept or not."""
    empty = make_module("")
    step = make_module(f"def step(x):\n    import {empty.__name__}\n    return x\n").step
    fresh = fingerprint_code(step)
    _settle(monkeypatch)
    _new_process()
    assert fingerprint_code(step) == fresh
    assert not any(k.startswith("module ") for k in fresh.parts)
