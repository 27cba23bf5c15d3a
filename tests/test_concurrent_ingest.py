"""Several server replicas on one PostgreSQL ingest at once: derivation merges facets read-modify-write, so four
processes sending facets of one job (one run, one dataset) at the same time must each see what the others
wrote. Without the per-job and per-dataset advisory locks (``LineageWriter.lock``) facets are lost here. On SQLite
(several processes on one file) the database's write lock, taken before the first read, does the same."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lineage_core.openlineage import views
from lineage_core.store import Store

from .conftest import BACKENDS

WRITERS, EVENTS = 4, 30
RUN_ID = "0190b1a0-0000-7000-8000-00000000c0c0"
WRITER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from lineage_core.openlineage.ingest import ingest
    from lineage_core.store import Store

    url, me, go, n = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    store = Store.from_url(url, (go.parent / "artifacts").as_uri())
    while not go.exists():
        time.sleep(0.01)
    for i in range(n):
        key = f"writer{me}_{i}"
        facet = {"_producer": "https://x", "_schemaURL": "https://x", "i": i}
        ingest(store, [{
            "eventType": "RUNNING", "eventTime": f"2026-11-22T10:00:{i % 60:02d}.{me}Z", "producer": "https://x",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": "RUN_ID", "facets": {key: facet}},
            "job": {"namespace": "replicas", "name": "shared", "facets": {key: facet}},
            "inputs": [], "outputs": [{"namespace": "s3://lake", "name": "shared", "facets": {key: facet}}]}])
''').replace("RUN_ID", RUN_ID)


@pytest.mark.parametrize("kind", BACKENDS)
def test_four_processes_lose_no_facet_of_one_job(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lineage.db'}" if kind == "sqlite" else request.getfixturevalue(
        "pg_server").create_database()
    store = Store.from_url(url, (tmp_path / "artifacts").as_uri())  # migrated before the writers start
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(me), str(go), str(EVENTS)],
                              env=os.environ.copy(), stderr=subprocess.PIPE, text=True) for me in range(WRITERS)]
    time.sleep(2)  # every writer imported and connected, waiting
    go.touch()
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read() if p.stderr else ""
    expected = {f"writer{me}_{i}" for me in range(WRITERS) for i in range(EVENTS)}
    run = views.get_run(store, RUN_ID)
    assert run is not None and set(run["facets"]) == expected
    job = views.get_job(store, "replicas", "shared")
    assert job is not None and set(job["facets"]) == expected  # the latest run's job facets
    (version,) = views.dataset_versions(store, "s3://lake", "shared", 10, 0)["versions"]
    assert set(version["facets"]) == expected
    store.close()
