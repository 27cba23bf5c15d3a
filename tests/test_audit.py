"""The audit trail: every kind of write through the server is an audit row (who by token name, what, outcome) on
SQLite and PostgreSQL, and `lineage audit` and GET /api/v1/audit show it with their filters."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from .services.lineage_server import Server
from .test_scopes import IN, LIMITED, TOKEN_FILE, TOKENS, ZERO, A, C, Planted, R, event, send

pytestmark = pytest.mark.slow  # starts lineage servers


def audit_cli(home: Path, url: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "lineage_core.cli", "audit", *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home), "LINEAGE_HOME": str(home),
                               "LINEAGE_STORE_URL": url}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_kind_of_write_is_audited_and_shown(backend: str, tmp_path: Path) -> None:
    """On SQLite and PostgreSQL: ingest, store writes (uploads included), admin actions and refusals."""
    (tmp_path / "tokens").write_text(TOKEN_FILE)
    s = Server({"LINEAGE_HOME": str(tmp_path), "LINEAGE_STORE_URL": backend,
                "LINEAGE_ARTIFACTS_URL": (tmp_path / "artifacts").as_uri(),
                "LINEAGE_SERVER_TOKEN_FILE": str(tmp_path / "tokens")}, host="0.0.0.0")
    try:
        cache, admin = TOKENS[C], TOKENS[A]
        run_id = str(uuid.uuid4())
        assert send(s, "POST", "/api/v1/lineage", TOKENS[IN], event("team-a", run_id))[0] == 201
        assert send(s, "POST", "/api/v1/lineage/batch", TOKENS[IN], [event("team-a", str(uuid.uuid4()))])[0] == 200
        p = Planted(s, cache, "team-a")  # job, environment, blob upload, run, entry
        assert send(s, "PATCH", f"/api/v1/store/runs/{p.run_id}", cache, {"status": "COMPLETED"})[0] == 204
        assert send(s, "POST", f"/api/v1/store/runs/{p.run_id}/abandon", cache, {"why": "test"})[0] == 204
        lease = f"/api/v1/store/leases/{p.key}"
        assert send(s, "POST", lease, cache, {"owner": "w1", "ttl": 30})[1]["acquired"]
        assert send(s, "PUT", lease, cache, {"owner": "w1", "ttl": 30})[1]["renewed"]
        assert send(s, "DELETE", f"{lease}?owner=w1", cache)[0] == 204
        remote = [{"uri": "s3://b/k", "size": 1, "etag": "e", "version": "", "hash": p.digest}]
        assert send(s, "PUT", "/api/v1/store/remote-stat", cache, remote)[0] == 204
        assert send(s, "POST", "/api/v1/store/remote-stat/lookup", cache, {"uris": ["s3://b/k"]})[0] == 200
        assert send(s, "PUT", f"/api/v1/admin/pins/{p.run_id}", admin, {"note": "keep"})[0] == 200
        assert send(s, "DELETE", f"/api/v1/admin/pins/{p.run_id}", admin)[0] == 200
        assert send(s, "DELETE", f"/api/v1/store/entries/{p.key}", cache)[0] == 204
        assert send(s, "POST", "/api/v1/admin/invalidate", admin, {"job": "j"})[1] == {"invalidated": 0}
        assert send(s, "POST", "/api/v1/admin/gc", admin, {"olderThan": "1000d"})[0] == 200
        assert send(s, "POST", "/api/v1/store/jobs", TOKENS[R], {"namespace": "x", "name": "y"})[0] == 403
        assert s.request("PUT", f"/api/v1/store/blobs/{ZERO}", b"x")[0] == 401
        assert send(s, "PUT", f"/api/v1/store/blobs/{ZERO}", cache, raw=b"not these bytes")[0] == 422
        for odd in ("/api/v1/store/jobs/99999999999999999999/manifests", "/api/v1/store/runs/abc%00defgh",
                    "/api/v1/store/entries/blake3:%00", f"/api/v1/cache/{'x' * 2000}"):  # a limited token's lookups
            assert 400 <= send(s, "GET", odd, LIMITED)[0] < 500, odd

        status, answer = send(s, "GET", "/api/v1/audit?limit=10000", admin)
        assert status == 200
        rows = answer["audit"]
        assert [(r["token"], r["action"], r["outcome"]) for r in reversed(rows)] == [
            ("ingester", "post_lineage", "ok"), ("ingester", "post_batch", "ok"),
            ("cacher", "job", "ok"), ("cacher", "put_environment", "ok"), ("cacher", "put_blob", "ok"),
            ("cacher", "insert_run", "ok"), ("cacher", "put_entry", "ok"), ("cacher", "finish_run", "ok"),
            ("cacher", "abandon_run", "ok"), ("cacher", "acquire", "ok"), ("cacher", "release", "ok"),
            ("cacher", "put_remote", "ok"), ("adminer", "pin", "ok"), ("adminer", "unpin", "ok"),
            ("cacher", "tombstone", "ok"), ("adminer", "invalidate", "ok"), ("adminer", "gc", "ok"),
            ("reader", "job", "denied"), ("anonymous", "put_blob", "denied"), ("cacher", "put_blob", "refused"),
        ]
        by_action = {r["action"]: r for r in rows if r["outcome"] == "ok"}
        assert by_action["post_lineage"]["target"] == f"run={run_id}"
        assert by_action["post_lineage"]["namespace"] == by_action["job"]["namespace"] == "team-a"
        assert by_action["put_entry"]["target"] == f"key={p.key}" and by_action["put_entry"]["namespace"] == "team-a"
        assert by_action["put_blob"]["target"] == f"digest={p.digest}"
        assert by_action["pin"]["route"] == "PUT /api/v1/admin/pins/{run_id}" and by_action["pin"]["status"] == 200
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", rows[0]["at"])
        stored = json.dumps(rows)
        assert all(secret not in stored for secret in TOKENS.values())
        assert "value of team-a" not in stored and "keep" not in stored  # no request bodies

        def audit(query: str) -> list[dict[str, Any]]:
            status, body = send(s, "GET", f"/api/v1/audit?{query}", admin)
            assert status == 200, body
            return list(body["audit"])

        assert {r["action"] for r in audit("token=adminer")} == {"pin", "unpin", "invalidate", "gc"}
        assert [r["token"] for r in audit("action=job")] == ["reader", "cacher"]
        assert len(audit("limit=3")) == 3 and audit("since=2100-01-01T00:00:00Z") == []
        assert len(audit(f"since={rows[2]['at']}")) >= 3
        for bad in ("limit=0", "limit=10001", "since=yesterday"):
            assert 400 <= send(s, "GET", f"/api/v1/audit?{bad}", admin)[0] < 500, bad
        prune = "/api/v1/admin/audit/prune"
        assert send(s, "POST", prune, admin, {"olderThan": "1000d"}) == (200, {"pruned": 0})
        assert send(s, "POST", prune, admin, {"olderThan": "soon"})[0] == 400
        assert send(s, "POST", prune, cache, {"olderThan": "0s"})[0] == 403
        assert [(r["token"], r["outcome"]) for r in audit("action=prune_audit")] == [
            ("cacher", "denied"), ("adminer", "refused"), ("adminer", "ok")]
    finally:
        s.stop()

    out = audit_cli(tmp_path, backend, "--token", "cacher", "--action", "put_blob")
    assert "outcome" in out and out.count("put_blob") == 2 and "refused" in out and "adminer" not in out
    listed = json.loads(audit_cli(tmp_path, backend, "--json", "--since", "1h", "--limit", "5"))
    assert [r["action"] for r in listed] == ["prune_audit"] * 3 + [r["action"] for r in rows[:2]]  # newest first
    assert json.loads(audit_cli(tmp_path, backend, "--json", "--since", "2100-01-01T00:00:00")) == []


def test_a_hit_is_one_audit_row_written_with_the_run_it_records(backend: str, tmp_path: Path) -> None:
    """The hit route writes its own row, in the transaction of the CACHED run it records: one row per hit, found or
    not; a hit whose run id is taken (409: nothing recorded) leaves its refusal and no run; a token outside the key's
    namespace leaves a denial. No hit leaves two rows (the middleware does not write the route's row again)."""
    from lineage_core.store import Store

    (tmp_path / "tokens").write_text(TOKEN_FILE)
    s = Server({"LINEAGE_HOME": str(tmp_path), "LINEAGE_STORE_URL": backend,
                "LINEAGE_ARTIFACTS_URL": (tmp_path / "artifacts").as_uri(),
                "LINEAGE_SERVER_TOKEN_FILE": str(tmp_path / "tokens")}, host="0.0.0.0")
    try:
        cache = TOKENS[C]
        p, other = Planted(s, cache, "team-a"), Planted(s, cache, "team-b")

        def hit(run_id: str, key: str = p.key, secret: str = cache, job_id: int = p.job_id) -> tuple[int, Any]:
            return send(s, "POST", f"/api/v1/store/hits/{key}", secret,
                        {"run_id": run_id, "job_id": job_id, "started_at": 2.0, "environment_hash": p.env_hash})

        first, missing = str(uuid.uuid4()), "blake3:" + "1" * 64
        status, body = hit(first)
        assert status == 200 and body["recorded"] and body["entry"]["run_id"] == p.run_id, body
        assert hit(first)[0] == 409  # the run id is taken: rolled back, row and all
        assert hit(str(uuid.uuid4()), key=missing) == (200, {"entry": None, "recorded": False})
        assert hit(str(uuid.uuid4()), key=other.key, secret=LIMITED, job_id=other.job_id)[0] == 403
        status, answer = send(s, "GET", "/api/v1/audit?action=hit&limit=100", TOKENS[A])
        assert status == 200, answer
        rows = [(r["token"], r["outcome"], r["status"], r["target"], r["namespace"]) for r in reversed(answer["audit"])]
        assert rows == [
            ("cacher", "ok", 200, f"key={p.key}", "team-a"), ("cacher", "refused", 409, f"key={p.key}", "team-a"),
            ("cacher", "ok", 200, f"key={missing}", "team-a"), ("team-a", "denied", 403, f"key={other.key}", "team-b"),
        ]
        assert all(r["route"] == "POST /api/v1/store/hits/{key}" for r in answer["audit"])
    finally:
        s.stop()
    db = Store.from_url(backend, migrate=False)
    try:
        cached = [r for r in db.runs(limit=100) if r["status"] == "CACHED"]
        assert [(r["id"], r["source_run_id"], r["cache_key"]) for r in cached] == [(first, p.run_id, p.key)]
    finally:
        db.close()
