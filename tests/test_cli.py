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

LINEAGE = [sys.executable, "-m", "lineage_core.cli"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([*LINEAGE, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture
def two_runs(make_module: Callable[..., ModuleType], backend: str) -> tuple[str, str, ModuleType]:
    m = make_module("from lineage_core import cached\n@cached(name='train')\ndef train(lr):\n    return lr * 2\n")
    m.train(0.1)
    a = explain(m.train).run_id
    m.train(0.2)
    b = explain(m.train).run_id
    return a, b, m


@pytest.mark.slow
def test_runs_show_explain_diff(two_runs: tuple[str, str, ModuleType]) -> None:
    a, b, m = two_runs
    m.train(0.2)
    hit = explain(m.train).run_id
    rows = json.loads(cli("runs", "--json").stdout)
    assert [r["status"] for r in rows] == ["CACHED", "COMPLETED", "COMPLETED"]
    assert json.loads(cli("runs", "--job", "nope", "--json").stdout) == []
    shown = json.loads(cli("show", a[:30], "--json").stdout)  # a unique prefix is enough
    assert shown["id"] == a and shown["manifest"]["params"]
    assert "ambiguous" in cli("show", a[:6], check=False).stderr  # all three runs share it (UUIDv7 time)
    assert "parameter 'lr' changed: 0.1 → 0.2" in cli("explain", b).stdout
    ex = json.loads(cli("explain", hit, "--json").stdout)
    assert ex["hit"] and ex["source_run_id"] == b
    d = json.loads(cli("diff", a, b, "--json").stdout)
    assert d["key"] == ["parameter 'lr' changed: 0.1 → 0.2"] and d["environment"] == []


@pytest.mark.slow
def test_cache_ls_and_invalidate(two_runs: tuple[str, str, ModuleType]) -> None:
    _, _, m = two_runs
    entries = json.loads(cli("cache", "ls", "--json").stdout)
    assert len(entries) == 2
    assert "invalidated 2 entries" in cli("cache", "invalidate", "--job", "train").stdout
    m.train(0.2)
    assert not explain(m.train).hit
    assert "entry was invalidated" in explain(m.train).reasons[0]
    key = explain(m.train).key
    assert "invalidated 1 entry" in cli("cache", "invalidate", key[:20]).stdout


@pytest.mark.slow
def test_env_and_doctor() -> None:
    env = json.loads(cli("env", "--json").stdout)
    assert env["python"] and "blake3" in env["packages"]
    fresh = cli("doctor", check=False)
    assert fresh.returncode != 0 and "lineage doctor --migrate" in fresh.stderr
    out = cli("doctor", "--migrate").stdout
    assert "migrations current" in cli("doctor").stdout
    assert "migrations current" in out and "writable" in out


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["show", "0000000000"], {}, "no run '0000000000'"),
        (["runs"], {"LINEAGE_STORE_URL": "postgresql+psycopg://me:hunter2@127.0.0.1:9/db"}, "unreachable"),
        (["runs"], {"LINEAGE_STORE_URL": "not a url"}, "invalid store URL"),
        (["cache", "invalidate"], {}, "give a KEY or --job NAME"),
        (["hash", "/definitely/missing"], {}, "no such file"),
    ],
)
def test_bad_input_is_one_line_no_traceback(args: list[str], env: dict[str, str], message: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    p = cli(*args, check=False)
    assert p.returncode != 0
    assert message in p.stderr and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "hunter2" not in p.stderr + p.stdout


def test_hash_command(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert cli("hash", str(tmp_path / "f")).stdout.startswith("blake3:")
