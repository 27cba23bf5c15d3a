"""A cache hit in a fresh process (a KFP task, a process-per-task Airflow worker) imports only what a hit needs.

Each case runs real processes: one computes and stores the value, a fresh one hits it and reports which heavy
modules ended up in ``sys.modules``. SQLAlchemy (150–190 ms to import), fsspec, pandas, numpy (unless the value is
an array), ``requests`` and the OpenLineage client (no transport configured) must not be among them. The control
case opens the store the way it was opened before the sqlite3 hit path existed, and shows that the same check
sees SQLAlchemy then: the assertion can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lineage_core.store import metadata
from lineage_core.store.fast_sqlite import head_revision

HEAVY = ("sqlalchemy", "sqlalchemy.orm", "alembic", "fsspec", "pandas", "numpy", "requests", "openlineage",
         "openlineage.client", "pydantic")
# Lighter, but a hit of a plain value needs none of them either (each costs a fresh process 1-4 ms): uuid (which
# imports platform), OpenSSL's hashlib, pickle (only for a step that opted in), subprocess (no git, no nvidia-smi
# without a repository or a GPU), importlib.metadata (the import-name map is read from its cache file), a write's
# tempfile (and random), glob (only file_deps patterns), mmap (only a blob of 16 MiB or more); of ours, the reference
# and remote-input types (refs, hashing.remote: a frozen dataclass each, needed only once such a value exists) and
# the step metrics (a miss's). (concurrent.futures
# stays imported up front: imported late, during interpreter shutdown, it cannot register its atexit hook, and a
# failing KFP task records its FAIL event then.)
LEAN = ("uuid", "platform", "hashlib", "_hashlib", "pickle", "subprocess", "importlib.metadata", "email", "tempfile",
        "random", "glob", "mmap", "lineage_core.refs", "lineage_core.hashing.remote", "lineage_core.metrics")

# A class a hit in a fresh process defines costs it the methods Python 3.11 compiles for it then: ~0.9 ms a frozen
# dataclass (six generated methods), ~0.2 ms a NamedTuple (its ``__new__``). Records the hit path only reads and
# passes on (cache entries, run datasets, stat keys, contexts, key parts) are NamedTuples; the public ones (Settings,
# KeyManifest, EnvironmentSnapshot, Outcome) are dataclasses made by ``lineage_core.records.record``, with nothing
# compiled. A dataclass with generated methods on the hit path fails here: make it a record or a NamedTuple (JSON
# writes one as a list: give it to json as ``_asdict()``), or import it off the hit path.
GENERATED = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")

STEPS = '''
from pathlib import Path

from lineage_core import cached


@cached
def add(a: int, b: int) -> int:
    return a + b


@cached
def count_lines(path: Path) -> int:
    return len(path.read_text().splitlines())


@cached
def ramp(n: int):
    import numpy as np

    return np.arange(n, dtype="float64")
'''

CALL = '''
import json, sys
from pathlib import Path
{undo}
import steps
from lineage_core import explain

value = {call}
print(json.dumps({{"hit": explain({fn}).hit, "value": repr(value)[:40],
                  "loaded": [m for m in {heavy!r} if m in sys.modules],
                  "lean": [m for m in {lean!r} if m in sys.modules],
                  "compiled": sorted(f"{{n}}.{{k}}.{{g}}" for n, m in list(sys.modules.items())
                                     if n.startswith("lineage_core") for k, v in vars(m).items()
                                     if isinstance(v, type) and v.__module__ == n
                                     and "__dataclass_fields__" in v.__dict__ for g in {generated!r}
                                     if getattr(getattr(v.__dict__.get(g), "__code__", None), "co_filename",
                                                "").startswith("<"))}}))
'''

UNDO = '''
from lineage_core import runtime, settings
from lineage_core.store import Store


def _sql_store(s):  # how runtime opened a SQLite store before store.fast_sqlite
    with settings.use(s):
        return Store.from_url(s.resolved_store_url, s.resolved_artifacts_url)


runtime.open_store = _sql_store
'''


def _run(tmp_path: Path, call: str, fn: str, undo: bool = False) -> dict[str, object]:
    code = textwrap.dedent(CALL.format(undo=UNDO if undo else "", call=call, fn=fn, heavy=HEAVY, lean=LEAN,
                                          generated=GENERATED))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "LINEAGE_"))}
    env.update(LINEAGE_HOME=str(tmp_path / "home"), PYTHONPATH=os.pathsep.join(
        [str(tmp_path), str(Path(__file__).resolve().parents[1])]))
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def steps(tmp_path: Path) -> Path:
    (tmp_path / "steps.py").write_text(STEPS)
    (tmp_path / "data.txt").write_text("a\nb\nc\n")
    return tmp_path


@pytest.mark.parametrize(("call", "fn", "value"), [
    ("steps.add(20, 22)", "steps.add", "42"),
    ("steps.count_lines(Path('data.txt'))", "steps.count_lines", "3"),
])
def test_a_hit_in_a_fresh_process_imports_no_sql_layer_filesystem_or_data_library(
    steps: Path, call: str, fn: str, value: str,
) -> None:
    first = _run(steps, call, fn)
    assert first["hit"] is False and first["value"] == value
    assert "sqlalchemy" in first["loaded"]  # a miss records through the SQL store (explanations, the entry)
    hit = _run(steps, call, fn)
    assert hit["hit"] is True and hit["value"] == value
    assert hit["loaded"] == []
    assert hit["lean"] == []
    assert hit["compiled"] == []  # no dataclass method generated (and compiled) while the hit's modules load


def test_an_array_hit_imports_numpy_and_still_no_sql_layer(steps: Path) -> None:
    assert _run(steps, "steps.ramp(1000)", "steps.ramp")["hit"] is False
    hit = _run(steps, "steps.ramp(1000)", "steps.ramp")
    assert hit["hit"] is True and hit["value"].startswith("array([")
    assert hit["loaded"] == ["numpy"]


def test_the_check_sees_sqlalchemy_when_the_store_opens_the_old_way(steps: Path) -> None:
    assert _run(steps, "steps.add(1, 2)", "steps.add")["hit"] is False
    control = _run(steps, "steps.add(1, 2)", "steps.add", undo=True)
    assert control["hit"] is True
    assert "sqlalchemy" in control["loaded"]


def test_the_hit_path_knows_the_schema_head_without_importing_the_sql_store() -> None:
    assert head_revision() == metadata.HEAD_REVISION


def test_the_hit_paths_binder_is_what_inspect_binds() -> None:
    """CachedFunction binds a plain signature itself (no BoundArguments on the hit path): the same arguments, in
    the same order, and the same refusals as ``signature.bind`` + ``apply_defaults``."""
    import inspect

    from lineage_core.cache import CachedFunction

    def f(a, b=2, c=None):  # type: ignore[no-untyped-def]
        return a

    def g(a, b):  # type: ignore[no-untyped-def]
        return a

    def h(a, *args, k=1, **kw):  # type: ignore[no-untyped-def]
        return a

    calls = [((), {}), ((1,), {}), ((1, 2), {}), ((1, 2, 3), {}), ((1, 2, 3, 4), {}), ((), {"a": 1}),
             ((1,), {"a": 1}), ((1,), {"c": 5}), ((1,), {"zz": 1}), ((), {"b": 1}), ((1,), {"b": 3}),
             ((), {"b": 3, "a": 2}), ((1, 2), {"k": 3, "q": 4})]
    for fn in (f, g, h):
        step = CachedFunction(fn)
        for args, kwargs in calls:
            try:
                bound = inspect.signature(fn).bind(*args, **kwargs)
                bound.apply_defaults()
                expected: object = list(bound.arguments.items())
            except TypeError as e:
                expected = str(e)
            try:
                got: object = list(step._bind(args, dict(kwargs)).items())
            except TypeError as e:
                got = str(e)
            assert got == expected, (fn.__name__, args, kwargs)


def test_a_key_spliced_from_fixed_components_encoded_once_is_the_reference_key() -> None:
    """env="full" (every package) is encoded once per process and spliced into each call's key text: the key is
    the one KeyManifest.build gives from the same components."""
    import dataclasses

    from lineage_core.cache import cached
    from lineage_core.keys import KeyContext, KeyManifest
    from lineage_core.runtime import process_environment

    def scale(x: int, factor: float = 2.0) -> float:
        return x * factor

    step = cached(scale, env="full", version="v1")
    fast = step.manifest(3, factor=0.5)
    assert fast.encoded and "env" in fast.encoded  # the splicing path is the one under test
    given = {k: v for k, v in fast.components.items() if k not in ("image", "hardware")}
    ctx = KeyContext(process_environment(step._source_dir), process_environment(step._source_dir).image_digest)
    reference = KeyManifest.build(ctx, display=fast.display, code_entry=fast.code_entry, **given)
    assert reference.encoded is None and reference == fast
    assert fast.key() == reference.key() == dataclasses.replace(fast, encoded=None).key()
    other = step.manifest(4, factor=0.5)
    assert other.key() != fast.key() and other.key() == dataclasses.replace(other, encoded=None).key()


def test_a_functions_ast_found_by_line_is_what_its_inspected_source_parses_to() -> None:
    """code_shapes._function_ast (no tokenizer on the hit path) against inspect.getsource + ast.parse, over every
    function and method of lineage_core's core modules: the same normalised AST, so no key changes."""
    import ast
    import importlib
    import inspect
    import pkgutil
    import textwrap
    import types

    import lineage_core
    from lineage_core import code_shapes

    compared = 0
    for info in pkgutil.walk_packages(lineage_core.__path__, "lineage_core."):
        if info.name.startswith(("lineage_core.server", "lineage_core.llm", "lineage_core.cli")):
            continue
        module = importlib.import_module(info.name)
        for obj in list(vars(module).values()):
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            members = vars(obj).values() if isinstance(obj, type) else [obj]
            for fn in (inspect.unwrap(f) for f in members if isinstance(f, types.FunctionType)):
                file = inspect.getsourcefile(fn) or ""
                found = code_shapes._function_ast(fn, code_shapes._read_source(file) or "")
                if found is None:
                    continue
                tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
                assert code_shapes._normalise(found) == code_shapes._normalise(tree.body[0]), fn.__qualname__
                compared += 1
    assert compared > 500


def test_a_hits_log_line_names_its_source_run_without_opening_the_sql_store(steps: Path) -> None:
    """What the Airflow provider logs on a hit (``from run … (dag.task, date)``): the source run's job and context,
    read on sqlite3 in the fresh process; the same as the SQL store's ``get_run`` says."""
    from lineage_core.integration import run_summary
    from lineage_core.store import Store

    assert _run(steps, "steps.add(5, 6)", "steps.add")["hit"] is False
    summary = ("\nfrom lineage_core.integration import default_store, run_summary\n"
               "value = run_summary(default_store(), explain(steps.add).source_run_id)\n")
    hit = _run(steps, "steps.add(5, 6)\n" + summary + "source = explain(steps.add).source_run_id", "steps.add")
    assert hit["hit"] is True and hit["loaded"] == []
    store = Store.from_url(f"sqlite:///{steps / 'home' / 'lineage.db'}")
    try:
        source = store.runs(job="steps.add", limit=10)[-1]  # the miss: the first run of the job
        full = store.get_run(source["id"])
        assert hit["value"] == repr((full["job"], full["context"] or {}))[:40]
        assert run_summary(store, source["id"]) == (full["job"], full["context"] or {})  # the SQL store's way
    finally:
        store.close()


def test_run_ids_without_the_uuid_module_are_what_uuid_writes() -> None:
    """ids writes UUIDv7 text itself and reads a canonical UUID as it is (uuid imports platform): the same strings
    as the uuid module's, and every other form still goes through it."""
    import hashlib
    import uuid

    from lineage_core.ids import _text, new_run_id, run_uuid

    for value in (0, 1, (1 << 128) - 1, 0x0123456789ABCDEF0123456789ABCDEF, *(uuid.uuid4().int for _ in range(200))):
        assert _text(value) == str(uuid.UUID(int=value))
    run_id = new_run_id()
    assert str(uuid.UUID(run_id)) == run_id and uuid.UUID(run_id).version == 7
    canonical = str(uuid.uuid4())
    assert run_uuid(canonical) == canonical
    assert run_uuid(canonical.upper()) == canonical and run_uuid("{" + canonical + "}") == canonical
    assert run_uuid(canonical.replace("-", "")) == canonical
    for name in ("16373610", "0", "7" * 31, "7" * 33, "1" * 32, "manual__2026-01-01T00:00:00", "", "{" + "a" * 31):
        try:
            expected = str(uuid.UUID(name))
        except ValueError:  # Marquez's nameUUIDFromBytes (kfp.local's run id is a number)
            expected = str(uuid.UUID(bytes=hashlib.md5(name.encode()).digest(), version=3))
        assert run_uuid(name) == expected, name
