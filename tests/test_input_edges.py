"""The edges of input handling that the hostile matrix (test_hostile_inputs.py) must not catch: what is exactly
at the limits is accepted; a full disk during an upload is 507 and keeps nothing; our own runs with names the
lineage tables cannot take stay out of lineage, not every read; a damaged SQLite file is a StoreError naming
it; rebuild names a stored event today's validation refuses and changes nothing."""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from lineage_core.cache import default_store
from lineage_core.errors import StoreError
from lineage_core.hashing import hash_bytes
from lineage_core.openlineage.ingest import IngestError, ingest, rebuild
from lineage_core.store import Store
from lineage_core.store import schema as t

from .conftest import BACKENDS
from .hostile_cases import JOB, NS, RUN, _raw, event
from .test_hostile_inputs import send, start, store_url


# -- what is at the limits is accepted --------------------------------------------------------------------
def _random(n: int) -> str:
    return "".join(random.choices(string.ascii_letters + string.digits + "./-_", k=n))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_names_and_numbers_at_the_limits_are_accepted(backend: str, request: pytest.FixtureRequest,
                                                      tmp_path: Path) -> None:
    """A 255-byte namespace and a 1,023-byte name (random, so PostgreSQL cannot compress the edge's index row),
    as a job and as its dataset; a 255-character dataset version; limit 1 and 10,000; offset 2**63-1."""
    server = start(tmp_path, store_url(backend, request, tmp_path))
    try:
        ns, name, version = _random(255), _random(1023), _random(255)
        doc = event(job={"namespace": ns, "name": name}, inputs=[{"namespace": ns, "name": name}],
                    outputs=[{"namespace": ns, "name": _random(1023),
                              "facets": {"version": {"datasetVersion": version}}}])
        assert send(server, "POST", "/api/v1/lineage", _raw(doc))[0] == 201
        status, raw = send(server, "GET", f"/api/v1/namespaces/{quote(ns, safe='')}/jobs/{quote(name, safe='')}")
        assert status == 200 and json.loads(raw)["name"] == name
        status, raw = send(server, "GET", f"/api/v1/lineage?nodeId={quote(f'job:{ns}:{name}', safe='')}&depth=1")
        assert status == 200 and len(json.loads(raw)["graph"]) == 3
        status, raw = send(server, "POST", "/api/v1/store/jobs", _raw({"namespace": ns, "name": _random(512)}))
        assert status == 200 and json.loads(raw)["id"] >= 1
        for query in ("limit=1", "limit=10000", f"offset={2**63 - 1}"):
            status, raw = send(server, "GET", f"/api/v1/events/lineage?{query}")
            assert status == 200 and json.loads(raw)["totalCount"] == 1, query
            assert send(server, "GET", f"/api/v1/namespaces?{query}")[0] == 200
    finally:
        server.stop()


# -- a full disk on the server (small_disk: a real 2 MiB tmpfs, from test_integrity) -------------------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_disk_during_an_upload_is_507_and_keeps_nothing(backend: str, request: pytest.FixtureRequest,
                                                               tmp_path: Path) -> None:
    disk: Path = request.getfixturevalue("small_disk")
    server = start(tmp_path, store_url(backend, request, tmp_path), artifacts=disk)
    octets = {"Content-Type": "application/octet-stream"}
    try:
        big = os.urandom(3 << 20)
        status, raw = send(server, "PUT", f"/api/v1/store/blobs/{hash_bytes(big)}", big, octets)
        body = json.loads(raw)
        assert status == 507 and body["code"] == 507
        assert "full" in body["message"] and "nothing stored" in body["message"]
        assert [p for p in disk.rglob("*") if p.is_file()] == []  # the partial upload is gone
        assert send(server, "GET", "/healthz", token=None)[0] == 200
        assert send(server, "HEAD", f"/api/v1/store/blobs/{hash_bytes(big)}")[0] == 404
        small = b"fits " * 100
        assert send(server, "PUT", f"/api/v1/store/blobs/{hash_bytes(small)}", small, octets)[0] == 201  # space is back
        assert send(server, "GET", f"/api/v1/store/blobs/{hash_bytes(small)}") == (200, small)
        st = os.statvfs(disk)  # no inode left: the temp file itself cannot be created
        subprocess.run(["mount", "-o", f"remount,nr_inodes={st.f_files - st.f_ffree}", str(disk)], check=True)
        before = sorted(disk.rglob("*"))
        other = b"no inode for me"
        status, raw = send(server, "PUT", f"/api/v1/store/blobs/{hash_bytes(other)}", other, octets)
        assert (status, json.loads(raw)["code"]) == (507, 507) and sorted(disk.rglob("*")) == before
        assert send(server, "GET", "/healthz", token=None)[0] == 200
    finally:
        server.stop()


# -- our own runs, with names the lineage tables cannot take ----------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_whose_name_cannot_be_indexed_is_left_out_of_lineage_not_every_read(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    """A client names a step with 400 CJK characters (the runs table holds them; 1,200 bytes are over what the
    lineage tables index): the sync leaves that run out with one WARNING, and every other run is there."""
    url = store_url(backend, request, tmp_path)
    store = Store.from_url(url, (tmp_path / "artifacts").as_uri())
    try:
        too_long, fine = store.job_id("default", "漢" * 400), store.job_id("default", "ok.step")
        bad_run, good_run = str(uuid.uuid4()), str(uuid.uuid4())
        store.insert_run(id=bad_run, job_id=too_long, status="COMPLETED", started_at=1.0, ended_at=2.0)
        store.insert_run(id=good_run, job_id=fine, status="COMPLETED", started_at=1.0, ended_at=2.0)
    finally:
        store.close()
    server = start(tmp_path, url)
    try:
        status, raw = send(server, "GET", "/api/v1/namespaces/default/jobs")
        assert status == 200 and [j["name"] for j in json.loads(raw)["jobs"]] == ["ok.step"]
        assert send(server, "GET", f"/api/v1/jobs/runs/{good_run}")[0] == 200
        assert send(server, "GET", f"/api/v1/jobs/runs/{bad_run}")[0] == 404
        assert send(server, "GET", "/api/v1/namespaces")[0] == 200  # and again: reads keep working
    finally:
        server.stop()
    log = server.proc.stderr.read() if server.proc.stderr else ""
    assert log.count(f"run {bad_run} is not in the lineage tables") == 1 and "1023 bytes of UTF-8" in log


# -- a damaged store file on the client -------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["not-a-database", "malformed-pages"])
def test_a_damaged_sqlite_file_is_a_store_error_naming_it(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_module: Callable[..., ModuleType],
) -> None:
    db = tmp_path / "store" / "lineage.db"
    url, artifacts = f"sqlite:///{db}", (tmp_path / "artifacts").as_uri()
    if damage == "not-a-database":
        db.parent.mkdir()
        db.write_bytes(os.urandom(8192))
    else:  # a real store whose schema pages are overwritten
        store = Store.from_url(url, artifacts)
        store.job_id("default", "step")
        store.close()
        with open(db, "r+b") as f:
            f.seek(100)
            f.write(b"\xff" * 3000)
    with pytest.raises(StoreError) as e:
        Store.from_url(url, artifacts).runs()
    assert str(db) in str(e.value) and "restore it from a backup, or move it aside" in str(e.value)
    monkeypatch.setenv("LINEAGE_STORE_URL", url)
    m = make_module("from lineage_core import cached\n@cached\ndef double(n):\n    return 2 * n\n")
    with pytest.raises(StoreError, match="is damaged or not a SQLite database"):
        m.double(2)
    cli = subprocess.run([sys.executable, "-m", "lineage_core.cli", "runs"], capture_output=True, text=True,
                         env={**os.environ, "LINEAGE_STORE_URL": url}, timeout=120)
    assert cli.returncode != 0 and str(db) in cli.stderr and "Traceback" not in cli.stderr


# -- an event an older version stored, that today's validation refuses -------------------------------------
@pytest.mark.usefixtures("backend")
def test_rebuild_names_a_stored_event_that_validation_now_refuses_and_changes_nothing() -> None:
    store = default_store()
    ingest(store, [event()])
    derived = (t.ol_jobs, t.ol_runs, t.ol_datasets, t.ol_edges)

    def rows() -> list[list[Any]]:
        with store.engine.connect() as c:
            return [sorted(map(tuple, c.execute(sa.select(table)))) for table in derived]

    before = rows()
    with store.engine.begin() as c:  # as an older version would have kept it
        c.execute(t.ol_events.insert().values(
            id=hash_bytes(b"stored before validation"), kind="RunEvent", event_type="COMPLETE", run_id=RUN,
            job_namespace=NS, job_name=JOB, event_time=2.0, payload=event(inputs="x"), received_at=2.0))
    with pytest.raises(IngestError, match="inputs: must be a JSON array"):
        rebuild(store)
    assert rows() == before and all(before)
