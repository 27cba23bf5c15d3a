"""Retention on both backends: expiry, keep-last, pins, dry runs, and the grace period for writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import explain
from lineage_core.cache import default_store
from lineage_core.errors import ConfigError
from lineage_core.retention import collect_garbage, parse_duration, pin

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def steps(make_module: Callable[..., ModuleType]) -> ModuleType:
    return make_module("from lineage_core import cached\nN = []\n"
                       "@cached(name='ret.f')\ndef f(x):\n    N.append(x)\n    return 'v' * x\n"
                       "@cached(name='ret.g')\ndef g(x):\n    return x\n")


def backdate(seconds: float, keys: list[str] | None = None) -> None:
    store = default_store()
    with store.engine.begin() as c:
        where = "" if keys is None else " WHERE key IN (" + ",".join(f"'{k}'" for k in keys) + ")"
        c.exec_driver_sql(f"UPDATE cache_entries SET created_at = created_at - {seconds}{where}")
        c.exec_driver_sql(f"UPDATE artifacts SET created_at = created_at - {seconds}")
        c.exec_driver_sql(f"UPDATE runs SET started_at = started_at - {seconds}")


def blob_files(lineage_home: Path) -> list[Path]:
    return [p for p in (lineage_home / "artifacts" / "blobs").rglob("*") if p.is_file()]


def test_older_than_removes_entries_runs_and_blobs(steps: ModuleType, lineage_home: Path) -> None:
    steps.f(1)
    old_key = explain(steps.f).key
    steps.f(1)  # a hit run
    backdate(40 * 86400, [old_key])
    steps.f(2)  # fresh
    before = blob_files(lineage_home)
    assert len(before) == 2
    dry = collect_garbage(default_store(), older_than=parse_duration("30d"), grace=0, dry_run=True)
    assert (dry.entries, dry.runs, dry.artifacts, dry.blobs) == (1, 2, 1, 1)
    assert len(blob_files(lineage_home)) == 2  # a dry run changes nothing
    report = collect_garbage(default_store(), older_than=parse_duration("30d"), grace=0)
    assert (report.entries, report.runs, report.artifacts, report.blobs) == (1, 2, 1, 1)
    assert len(blob_files(lineage_home)) == 1
    steps.f(2)
    assert explain(steps.f).hit  # what survived still verifies
    steps.f(1)
    assert not explain(steps.f).hit and steps.N == [1, 2, 1]


def test_keep_last_per_job_and_pins(steps: ModuleType) -> None:
    for x in (1, 2, 3, 4):
        steps.f(x)
    first = default_store().runs(job="ret.f")[-1]["id"]
    pin(default_store(), first)
    steps.g(1)
    report = collect_garbage(default_store(), keep_last=1, grace=0)
    assert report.entries == 2 and report.kept_pinned == 1  # f(2), f(3) go; f(1) is pinned; g(1) is last
    for x, hit in ((1, True), (4, True), (2, False)):
        steps.f(x)
        assert explain(steps.f).hit is hit
    steps.g(1)
    assert explain(steps.g).hit


def test_a_hit_run_pin_keeps_its_source(steps: ModuleType) -> None:
    steps.f(5)
    steps.f(5)
    hit_run = explain(steps.f).run_id
    pin(default_store(), hit_run)
    backdate(90 * 86400)
    report = collect_garbage(default_store(), older_than=parse_duration("30d"), grace=0)
    assert report.entries == 0 and report.kept_pinned == 1
    steps.f(5)
    assert explain(steps.f).hit


def test_grace_period_protects_a_writer_between_blob_and_entry(lineage_home: Path) -> None:
    store = default_store()
    tmp = store.artifacts.new_temp_path()
    Path(tmp).write_bytes(b"published but not yet recorded")
    rec = store.artifacts.publish(tmp)
    assert collect_garbage(store, grace=parse_duration("1h")).blobs == 0
    assert store.artifacts.read_verified(rec.hash) == b"published but not yet recorded"
    os.utime(store.artifacts.path_for(rec.hash), (1, 1))  # an orphan from long ago
    assert collect_garbage(store, grace=parse_duration("1h")).blobs == 1


def test_cli_gc_pin_and_bad_durations(steps: ModuleType) -> None:
    steps.f(3)
    run = explain(steps.f).run_id
    cli = [sys.executable, "-m", "lineage_core.cli"]
    env = os.environ.copy()
    assert subprocess.run([*cli, "pin", run], capture_output=True, text=True, env=env).stdout.startswith("pinned")
    out = subprocess.run([*cli, "cache", "gc", "--older-than", "0s", "--grace", "0", "--json"],
                         capture_output=True, text=True, env=env)
    assert json.loads(out.stdout)["kept_pinned"] == 1
    bad = subprocess.run([*cli, "cache", "gc", "--older-than", "ten days"], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "invalid duration 'ten days'" in bad.stderr
    with pytest.raises(ConfigError):
        parse_duration("-1d")


def test_admin_writes_on_the_database_are_in_the_audit_trail(steps: ModuleType) -> None:
    """What the server's admin routes record, the CLI records when it changes the database itself: token
    ``cli:<OS user>``, the action and command, what it named, the outcome (a refusal too)."""
    import getpass

    steps.f(2)
    run = explain(steps.f).run_id
    cli = [sys.executable, "-m", "lineage_core.cli"]

    def lineage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=120)

    for args in (["pin", run, "--note", "keep"], ["unpin", run], ["tag", run, "prod"], ["cache", "invalidate",
                 "--job", "ret.g"], ["cache", "gc", "--older-than", "1000d"]):
        assert lineage(*args).returncode == 0, args
    assert lineage("cache", "gc", "--older-than", "1000d", "--dry-run").returncode == 0  # changes nothing: no row
    assert lineage("pin", "no-such-run").returncode != 0
    rows = json.loads(lineage("audit", "--json").stdout)
    user = f"cli:{getpass.getuser()}"
    assert [(r["token"], r["action"], r["route"], r["target"], r["outcome"]) for r in reversed(rows)] == [
        (user, "pin", "CLI lineage pin", f"run_id={run}", "ok"),
        (user, "unpin", "CLI lineage unpin", f"run_id={run}", "ok"),
        (user, "move_tag", "CLI lineage tag", f"run={run} tag=prod", "ok"),
        (user, "invalidate", "CLI lineage cache invalidate", "job=ret.g", "ok"),
        (user, "gc", "CLI lineage cache gc", None, "ok"),
        (user, "pin", "CLI lineage pin", "run_id=no-such-run", "refused"),
    ]
    assert "keep" not in json.dumps(rows)  # what was written is not in the trail, as with the server

    # retention: rows older than the duration go, and the prune is itself a row
    assert lineage("audit", "prune", "--older-than", "1d").stdout == "pruned 0 audit row(s) older than 1d\n"
    store = default_store()
    with store.engine.begin() as c:
        c.exec_driver_sql("UPDATE audit SET at = at - 2 * 86400")
    assert json.loads(lineage("audit", "prune", "--older-than", "1d", "--json").stdout) == {"pruned": 7}
    left = json.loads(lineage("audit", "--json").stdout)
    assert [(r["action"], r["target"], r["outcome"]) for r in left] == [("prune_audit", "older_than=1d", "ok")]
    bad = lineage("audit", "prune", "--older-than", "soon")
    assert bad.returncode == 2 and "invalid duration 'soon'" in bad.stderr
