"""gc's rules as the README states them, on both backends: ``--keep-last N`` protects the newest N valid entries
of each job whatever ``--older-than`` says (given alone it removes the rest), invalidated entries always go, and
``--dry-run`` says why each entry would go."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from lineage_core import explain
from lineage_core.cache import default_store
from lineage_core.retention import parse_duration, plan_garbage

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def steps(make_module: Callable[..., ModuleType]) -> ModuleType:
    return make_module("from lineage_core import cached\n"
                       "@cached(name='gc.f')\ndef f(x):\n    return 'v' * x\n"
                       "@cached(name='gc.g')\ndef g(x):\n    return x\n")


def backdate(seconds: float, keys: list[str]) -> None:
    store = default_store()
    with store.engine.begin() as c:
        marks = ",".join(f"'{k}'" for k in keys)
        c.exec_driver_sql(f"UPDATE cache_entries SET created_at = created_at - {seconds} WHERE key IN ({marks})")


def gc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage_core.cli", "cache", "gc", *args], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=120)


def keys_of(steps: ModuleType, fn: str, xs: tuple[int, ...]) -> list[str]:
    out = []
    for x in xs:
        getattr(steps, fn)(x)
        out.append(explain(getattr(steps, fn)).key)
    return out


def test_keep_last_protects_fresh_entries_from_older_than(steps: ModuleType) -> None:
    keys_of(steps, "f", (1, 2, 3))  # minutes old: nothing is older than 30 days
    p = gc("--older-than", "30d", "--keep-last", "1", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("would remove: 0 entries, 0 runs"), p.stdout  # the report: it proposed 2
    assert plan_garbage(default_store(), older_than=parse_duration("30d"), keep_last=1, grace=0).entries == ()


def test_keep_last_protects_the_newest_old_entries_and_dry_run_says_why(steps: ModuleType) -> None:
    f1, f2, f3 = keys_of(steps, "f", (1, 2, 3))
    (g1,) = keys_of(steps, "g", (1,))
    backdate(40 * 86400, [f1, f2, f3, g1])  # all old; f3 and g1 are the newest of their jobs
    plan = plan_garbage(default_store(), older_than=parse_duration("30d"), keep_last=1, grace=0)
    assert set(plan.entries) == {f1, f2} and plan.kept_recent == 2
    assert plan.why[f1].startswith("older than 30d (created 40")
    p = gc("--older-than", "30d", "--keep-last", "1", "--grace", "0s", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert "would remove: 2 entries" in p.stdout and "2 among the newest 1" in p.stdout, p.stdout
    assert f"entry    {f1}: older than 30d (created 40" in p.stdout and f3 not in p.stdout and g1 not in p.stdout
    # applied: the newest of each job still hits, the old one recomputes
    done = json.loads(gc("--older-than", "30d", "--keep-last", "1", "--grace", "0s", "--json").stdout)
    assert (done["entries"], done["kept_recent"]) == (2, 2)
    steps.f(3)
    assert explain(steps.f).hit
    steps.g(1)
    assert explain(steps.g).hit
    steps.f(1)
    assert not explain(steps.f).hit


def test_keep_last_alone_removes_beyond_n_and_invalidated_entries_always_go(steps: ModuleType) -> None:
    f1, f2, f3 = keys_of(steps, "f", (1, 2, 3))
    plan = plan_garbage(default_store(), keep_last=2, grace=0)
    assert plan.entries == (f1,) and plan.why[f1] == "beyond the newest 2 of its job (it is number 3)"
    default_store().invalidate(key=f3)  # the newest is invalidated: it cannot be served, so keep-last skips it
    plan = plan_garbage(default_store(), keep_last=2, grace=0)
    assert set(plan.entries) == {f3} and plan.why[f3].startswith("invalidated")
    assert plan_garbage(default_store(), grace=0).entries == (f3,)  # no rule: only what can never be served
    p = gc("--keep-last", "1", "--dry-run")
    assert p.returncode == 0 and f"entry    {f1}: beyond the newest 1 of its job (it is number 2)" in p.stdout
    assert f"entry    {f2}" not in p.stdout


def test_help_says_what_keep_last_does() -> None:
    p = gc("--help")
    text = " ".join(p.stdout.replace("│", " ").split())  # rich's panel, whatever the terminal's width
    assert "Protect the newest N valid entries of each job whatever the other rules say" in text, text
