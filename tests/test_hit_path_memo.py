"""What the hit path remembers or builds its own way is what the reference computation gives: the manifest
(call_manifest vs KeyManifest.build), a call's remembered key (function_key.KeyMemo) and a run row's remembered JSON
(fast_sqlite._json). Each test compares the fast answer with the fresh one for values that are equal but must not
be confused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import explain
from lineage_core.cache import default_store

pytestmark = pytest.mark.usefixtures("backend")  # every test here runs on SQLite and on PostgreSQL


def test_the_hit_paths_manifest_is_what_build_makes(make_module: Callable[..., ModuleType]) -> None:
    """call_manifest builds the manifest directly (the hit path); KeyManifest.build is the reference."""
    from lineage_core.keys import KeyContext, KeyManifest, computed_components
    from lineage_core.runtime import process_environment

    m = make_module("from lineage_core import cached\n"
                    "@cached(version=3, hardware=True)\ndef f(x, y=2):\n    return x\n")
    fast = m.f.manifest(1, y=5)
    given = {k: v for k, v in fast.components.items() if k not in ("image", "hardware")}
    ctx = KeyContext(process_environment(m.f._source_dir), None, True)
    reference = KeyManifest.build(ctx, display=fast.display, code_entry=fast.code_entry, **given)
    assert {k: fast.components[k] for k in ("hardware",)} == computed_components(ctx)
    assert reference == fast and reference.key() == fast.key()


def test_remembered_scalar_calls_key_as_a_fresh_call_would(make_module: Callable[..., ModuleType],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A call of small immutable scalars is keyed once per step and scope (function_key.KeyMemo): values that are
    equal but key differently (0.0 and -0.0, 1 and True and 1.0) stay apart, positional and keyword calls agree, a
    namespace is part of it, and every remembered key is the one computed afresh."""
    import dataclasses

    m = make_module("from lineage_core import cached\nCALLS = []\n"
                    "@cached\ndef f(x, y='a'):\n    CALLS.append((x, y))\n    return repr(x) + repr(y)\n")
    calls = [(0.0,), (-0.0,), (1,), (True,), (1.0,), (float("nan"),), (None,), (b"b",), ("s" * 300,), (1, "b")]
    for args in calls * 2:
        assert m.f(*args) == repr(args[0]) + repr(args[1] if len(args) > 1 else "a")
    assert len(m.CALLS) == 10  # each distinct call computed once, none confused with another
    assert m.f(1, y="b") == m.f(x=1, y="b") == "1'b'" and len(m.CALLS) == 10
    for args in calls:
        remembered = m.f.manifest(*args)
        fresh = m.f._manifest(m.f._bind(args, {}), default_store())
        assert remembered.key() == fresh.key() == dataclasses.replace(fresh, encoded=None).key()
    assert len(m.f._keys) == 9 + 2  # the 300-character string is not remembered; the two keyword forms are
    monkeypatch.setenv("LINEAGE_NAMESPACE", "other")
    assert m.f(1) == "1'a'" and len(m.CALLS) == 11 and explain(m.f).key != m.f._keys[("default", 1, int, 1)][1]


def test_a_step_with_file_deps_is_keyed_afresh_on_every_call(make_module: Callable[..., ModuleType],
                                                             tmp_path: Path) -> None:
    """Its key reads files: a call of the same scalars after a dependency changed is a miss (nothing remembered)."""
    (tmp_path / "cfg.txt").write_text("one")
    m = make_module("from lineage_core import cached\nCALLS = []\n"
                    f"@cached(file_deps=[{str(tmp_path / 'cfg.txt')!r}])\ndef g(x):\n    CALLS.append(x)\n"
                    "    return x\n")
    assert m.g(1) == m.g(1) == 1 and len(m.CALLS) == 1
    (tmp_path / "cfg.txt").write_text("two")
    assert m.g(1) == 1 and len(m.CALLS) == 2 and not explain(m.g).hit and not m.g._keys


def test_the_run_rows_json_is_what_json_dumps_writes_remembered_or_not() -> None:
    """fast_sqlite remembers the JSON of what every hit writes again (lists and dicts of strings); equal values of
    other types (1, True, 1.0) encode apart and are never served another's text."""
    import json

    from lineage_core.store.fast_sqlite import _json

    values: list[object] = [["a"], {"o": "python"}, {"o": 1}, {"o": True}, {"o": 1.0}, [1], [True], [1.0], {}, [],
                            {"o": {"p": "q"}}, ["é", 'q"'], {"a": "1", "b": "2"}, {"b": "2", "a": "1"}]
    for v in values * 2:
        assert _json(v) == json.dumps(v, default=str), v
