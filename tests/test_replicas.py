"""Several replicas of the lineage server on one PostgreSQL store: single flight holds across them.

Two real ``lineage serve`` processes share one PostgreSQL database and one artifact store (as the chart's
replicas share a database and a bucket). Sixteen worker processes — eight through each server, each with its
own ``LINEAGE_HOME`` — are released at once onto the same ``@cached`` step through the store API
(``LINEAGE_STORE_URL`` of their server). The step appends a line to a file each time it really computes: the
file has one line, every worker returns the same value, and the store holds one COMPLETED run and fifteen CACHED
ones served from it. The lease that decides who computes is taken in the database (``try_acquire``), so it does
not matter which replica a worker asks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from lineage_core.store import Store

from .services.lineage_server import Server

pytestmark = pytest.mark.slow  # two servers, sixteen workers

WORKERS = 16
STEP = '''
import os, time
from lineage_core import cached

@cached(name="shared-step")
def shared_step(x):
    with open(os.environ["COMPUTED_LOG"], "a") as f:  # one line per real computation, from any process
        f.write(f"{os.getpid()}\\n")
    time.sleep(1.0)  # long enough that the others arrive while it computes
    return {"answer": x * 2}
'''
WORKER = '''
import json, os, sys, time
from lineage_core import explain
from steps import shared_step

go = os.environ["GO_FILE"]
open(os.path.join(os.environ["READY_DIR"], str(os.getpid())), "w").close()
while not os.path.exists(go):  # every worker is imported and waiting: release them at once
    time.sleep(0.01)
value = shared_step(21)
e = explain(shared_step)
print(json.dumps({"value": value, "hit": e.hit, "run_id": e.run_id}))
'''


def test_sixteen_workers_across_two_servers_compute_once(pg_server: Any, tmp_path: Path) -> None:
    url = pg_server.create_database()
    Store.from_url(url).close()  # migrated once, before either server opens it
    artifacts = (tmp_path / "artifacts").as_uri()  # one artifact store for both replicas
    servers = [Server({"LINEAGE_STORE_URL": url, "LINEAGE_ARTIFACTS_URL": artifacts,
                       "LINEAGE_HOME": str(tmp_path / f"server-{n}")}) for n in range(2)]
    code = tmp_path / "code"
    code.mkdir()
    (code / "steps.py").write_text(textwrap.dedent(STEP))
    (code / "worker.py").write_text(textwrap.dedent(WORKER))
    log, go, ready = tmp_path / "computed.log", tmp_path / "go", tmp_path / "ready"
    ready.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINEAGE_", "OPENLINEAGE_"))}
    try:
        workers = [subprocess.Popen(
            [sys.executable, str(code / "worker.py")], cwd=code, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**env, "PYTHONPATH": str(code), "LINEAGE_HOME": str(tmp_path / f"worker-{n}"),
                            "LINEAGE_STORE_URL": f"http://127.0.0.1:{servers[n % 2].port}",
                            "COMPUTED_LOG": str(log), "GO_FILE": str(go), "READY_DIR": str(ready)})
            for n in range(WORKERS)]
        while len(list(ready.iterdir())) < WORKERS:  # all imported and waiting
            assert all(w.poll() is None for w in workers), [w.communicate()[1][-2000:] for w in workers if w.poll()]
            time.sleep(0.05)
        go.touch()
        results = []
        for w in workers:
            out, err = w.communicate(timeout=300)
            assert w.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for s in servers:
            s.stop()
    assert log.read_text().count("\n") == 1, log.read_text()  # computed exactly once, by one process
    assert {json.dumps(r["value"]) for r in results} == {json.dumps({"answer": 42})}
    assert sorted(r["hit"] for r in results) == [False] + [True] * (WORKERS - 1)
    store = Store.from_url(url)
    runs = store.runs(job="shared-step", limit=100)
    (producer,) = [r for r in runs if r["status"] == "COMPLETED"]
    assert len(runs) == WORKERS and all(r["status"] == "CACHED" and r["source_run_id"] == producer["id"]
                                        for r in runs if r is not producer)
    assert {r["run_id"] for r in results} == {r["id"] for r in runs}
    store.close()
