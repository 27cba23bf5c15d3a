"""Single-flight across processes on both backends: N workers, one computation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from lineage_core import cached, explain
from lineage_core.cache import default_store
from lineage_core.errors import LineageError, SingleFlightTimeout

WORKER = Path(__file__).parent / "workers" / "sf_worker.py"


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def results(procs: list[subprocess.Popen[str]], timeout: float = 240) -> list[dict[str, object]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        assert p.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def sf_env(backend: str, tmp_path: Path) -> dict[str, str]:
    return {"SF_LOG": str(tmp_path / "computed.log"), "LINEAGE_STORE_URL": backend,
            "SF_START_AT": str(time.time() + 3.0)}


@pytest.mark.slow
def test_eight_processes_compute_once(sf_env: dict[str, str], tmp_path: Path) -> None:
    procs = [spawn(["slow", "21", "1.0"], sf_env) for _ in range(8)]
    outs = results(procs)
    assert [line.split()[:2] for line in log_lines(tmp_path / "computed.log")] == [["slow", "21"]]
    assert {o["value"] for o in outs} == {42}
    assert sorted(o["hit"] for o in outs) == [False] + [True] * 7
    runs = default_store().runs(job="sf.slow")
    assert Counter(r["status"] for r in runs) == {"COMPLETED": 1, "CACHED": 7}
    assert default_store().lease(str(runs[0]["cache_key"])) is None  # released


@pytest.mark.slow
def test_killed_leader_is_taken_over_after_lease_expiry(sf_env: dict[str, str], tmp_path: Path) -> None:
    env = {**sf_env, "LINEAGE_LEASE_TTL": "1.5", "SF_START_AT": "0"}
    leader = spawn(["slow", "5", "60"], env)
    log = tmp_path / "computed.log"
    deadline = time.monotonic() + 60
    while not log_lines(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log_lines(log), "the leader never started computing"
    followers = [spawn(["slow", "5", "0.5"], env) for _ in range(8)]
    time.sleep(1.0)
    os.kill(leader.pid, signal.SIGKILL)
    leader.wait()
    outs = results(followers)
    assert {o["value"] for o in outs} == {10}
    pids = [line.split()[2] for line in log_lines(log)]
    assert len(pids) == 2 and pids[0] == str(leader.pid)  # the dead leader, then exactly one taker
    assert sum(not o["hit"] for o in outs) == 1
    taker = next(o for o in outs if not o["hit"])
    assert any("took over from run" in r for r in taker["reasons"]), taker  # type: ignore[union-attr]
    statuses = Counter(r["status"] for r in default_store().runs(job="sf.slow"))
    assert statuses == {"ABORTED": 1, "COMPLETED": 1, "CACHED": 7}


@pytest.mark.slow
def test_waiting_past_the_bound_is_a_clear_timeout(sf_env: dict[str, str]) -> None:
    env = {**sf_env, "SF_START_AT": "0"}
    leader = spawn(["slow", "9", "6"], env)
    time.sleep(2.5)
    (out,) = results([spawn(["slow", "9", "6"], {**env, "LINEAGE_WAIT_TIMEOUT": "1"})])
    assert "waited 1s" in str(out["timeout"]) and "LINEAGE_WAIT_TIMEOUT" in str(out["timeout"])
    results([leader])
    assert issubclass(SingleFlightTimeout, TimeoutError) and issubclass(SingleFlightTimeout, LineageError)


def test_threads_in_one_process_compute_once(backend: str) -> None:
    calls: list[int] = []

    @cached(name="sf.threads")
    def slow(x: int) -> int:
        calls.append(x)
        time.sleep(0.5)
        return x + 1

    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(slow(1))) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert calls == [1] and got == [2] * 8
    assert explain(slow).key


def test_a_failing_leader_hands_over(backend: str) -> None:
    attempts: list[int] = []

    @cached(name="sf.flaky")
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            time.sleep(0.3)
            raise RuntimeError("first attempt fails")
        return x

    errors: list[BaseException] = []
    got: list[int] = []

    def call() -> None:
        try:
            got.append(flaky(3))
        except RuntimeError as e:
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(errors) == 1 and got == [3, 3, 3] and len(attempts) == 2


@pytest.mark.slow
def test_sixteen_processes_five_hundred_mixed_steps_on_postgres(pg_server: object, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg_server.create_database()  # type: ignore[attr-defined]
    monkeypatch.setenv("LINEAGE_STORE_URL", url)
    env = {"SF_LOG": str(tmp_path / "computed.log"), "LINEAGE_STORE_URL": url, "SF_START_AT": str(time.time() + 6)}
    procs = [spawn(["mixed", str(seed), "500", "60"], env) for seed in range(16)]
    outs = results(procs, timeout=600)
    assert all(o["calls"] == 500 and o["wrong"] == 0 for o in outs)
    computed = Counter(tuple(line.split()[:2]) for line in log_lines(tmp_path / "computed.log"))
    assert computed and max(computed.values()) == 1  # every (step, x) computed exactly once
    store = default_store()
    with store.engine.connect() as c:
        entries = c.exec_driver_sql("SELECT count(*) FROM cache_entries WHERE tombstoned_at IS NULL").scalar()
        leases = c.exec_driver_sql("SELECT count(*) FROM leases").scalar()
        statuses = dict(c.exec_driver_sql("SELECT status, count(*) FROM runs GROUP BY status").all())
    assert entries == len(computed) and leases == 0
    assert statuses == {"COMPLETED": len(computed), "CACHED": 16 * 500 - len(computed)}
