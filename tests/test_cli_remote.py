"""The ``lineage`` CLI against a lineage server URL, on SQLite and PostgreSQL.

A real ``lineage serve`` (off loopback, so every route needs a token) serves the store a test filled with real
cached runs and OpenLineage events; every read command runs once on the database and once with
``LINEAGE_STORE_URL=http://…`` and a ``read`` token, and prints the same, errors included. The admin commands
(invalidate, gc, pin, unpin, audit) need an ``admin`` token: a read token is refused in one line (exit 3), an
admin token works and leaves its audit row. A namespace-limited token sees only its namespaces; no token, a
wrong one and an unreachable server are one line each, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import explain
from lineage_core.openlineage.ingest import ingest
from lineage_core.store import Store

from .services.lineage_server import Server
from .services.postgres import free_port
from .test_lineage_graph import FEATURES, MODEL, RAW, REPORT, step

pytestmark = pytest.mark.slow  # starts a lineage server per backend

READER, ADMIN, CACHER, OTHER = "reader-t0ken", "admin-t0ken", "cacher-t0ken", "other-t0ken"
TOKEN_FILE = (f"reader:{READER}:read\nadminer:{ADMIN}:admin\ncacher:{CACHER}:cache\n"
              f"other-team:{OTHER}:read,admin:other,other.*\n")


@dataclass
class Served:
    server: Server
    runs: tuple[str, str, str]  # two misses and a hit of job "train" (namespace "default")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def local(self, *args: str) -> subprocess.CompletedProcess[str]:
        return lineage(os.environ["LINEAGE_STORE_URL"], None, *args)

    def remote(self, *args: str, token: str | None = READER) -> subprocess.CompletedProcess[str]:
        return lineage(self.url, token, *args)


def lineage(url: str, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LINEAGE_STORE_TOKEN", "OPENLINEAGE_API_KEY")}
    env.update({"LINEAGE_STORE_URL": url, **({"LINEAGE_STORE_TOKEN": token} if token else {})})
    return subprocess.run([sys.executable, "-m", "lineage_core.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, p.stderr
    return p.stdout


def one_line(p: subprocess.CompletedProcess[str], code: int, words: str) -> str:
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert words in p.stderr and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    return p.stderr


@pytest.fixture
def served(backend: str, lineage_home: Path, make_module: Callable[..., ModuleType],
           tmp_path: Path) -> Iterator[Served]:
    m = make_module("from lineage_core import cached\n@cached(name='train')\ndef train(lr):\n    return lr * 2\n")
    m.train(0.1)
    a = explain(m.train).run_id
    m.train(0.2)
    b = explain(m.train).run_id
    m.train(0.2)
    hit = explain(m.train).run_id
    ingest(Store.default(), [step("prepare", [RAW], [FEATURES], 1), step("train", [FEATURES], [MODEL], 2),
                             step("evaluate", [MODEL, FEATURES], [REPORT], 3)])
    (tmp_path / "tokens").write_text(TOKEN_FILE)
    # the same store and home (so the same artifact root) as the local commands read
    server = Server({"LINEAGE_STORE_URL": backend, "LINEAGE_SERVER_TOKEN_FILE": str(tmp_path / "tokens")},
                    host="0.0.0.0")
    yield Served(server, (a, b, hit))
    server.stop()


def test_every_read_command_prints_the_same_from_the_database_and_from_the_server(served: Served) -> None:
    a, b, hit = served.runs
    commands = [
        ["runs"], ["runs", "--json"], ["runs", "--job", "train", "--limit", "2", "--json"],
        ["show", a], ["show", hit[:30], "--json"], ["explain", b], ["explain", hit, "--json"],
        ["diff", a, b], ["diff", a, b, "--json"], ["cache", "ls"], ["cache", "ls", "--job", "train", "--json"],
        ["events", "show", a], ["events", "show", hit],
        ["lineage", "job:ml:train"], ["lineage", "job:ml:train", "--json", "--depth", "2"],
        ["lineage", "dataset:s3://lake:models/clf.pkl", "--upstream"], ["lineage", "train"],  # default:train
    ]
    for args in commands:
        here = ok(served.local(*args))
        assert ok(served.remote(*args)) == here, args
    # what they printed is what the store holds
    rows = json.loads(ok(served.remote("runs", "--json")))
    assert [(r["id"], r["status"]) for r in rows] == [(hit, "CACHED"), (b, "COMPLETED"), (a, "COMPLETED")]
    assert json.loads(ok(served.remote("show", hit, "--json")))["manifest"]["display"]
    assert "parameter 'lr' changed: 0.1 → 0.2" in ok(served.remote("explain", b))
    assert len(json.loads(ok(served.remote("cache", "ls", "--json")))) == 2
    assert [e["eventType"] for e in map(json.loads, ok(served.remote("events", "show", a)).splitlines())] == [
        "START", "COMPLETE"]
    tree = ok(served.remote("lineage", "job:ml:train"))
    assert "upstream" in tree and "downstream" in tree and "prepare" in tree and "evaluate" in tree
    graph = json.loads(ok(served.remote("lineage", "job:ml:train", "--json")))
    ids = {n["id"] for n in graph["graph"]}
    assert {"job:ml:prepare", "job:ml:evaluate", "dataset:s3://lake:models/clf.pkl"} <= ids
    # and the errors are the same line
    for args in (["show", "0000000000"], ["explain", a[:6]], ["diff", a, "zzzzzzzz"], ["events", "show", "0123456789"]):
        mine = served.local(*args)
        assert mine.returncode == 2 and "Traceback" not in mine.stderr
        theirs = served.remote(*args)
        assert (theirs.returncode, theirs.stderr) == (mine.returncode, mine.stderr), args
    one_line(served.remote("lineage", "job:ml:nothing"), 2, "no lineage recorded for job:ml:nothing")


def test_admin_commands_need_the_admin_scope_and_leave_audit_rows(served: Served) -> None:
    a, _, _ = served.runs
    for args in (["cache", "invalidate", "--job", "train"], ["cache", "gc", "--older-than", "1d"], ["pin", a],
                 ["unpin", a], ["audit"]):
        one_line(served.remote(*args), 3, "lacks the 'admin' scope (it has read)")
    # a dry run plans the same on either side, and changes nothing
    dry = ["cache", "gc", "--keep-last", "0", "--grace", "0s", "--dry-run"]
    assert ok(served.remote(*dry, token=ADMIN)) == ok(served.local(*dry))
    assert json.loads(ok(served.remote(*dry, "--json", token=ADMIN))) == json.loads(ok(served.local(*dry, "--json")))
    assert "would remove: 2 entries, 0 runs, 2 artifacts" in ok(served.local(*dry))
    assert ok(served.remote("pin", a[:30], "--note", "the baseline", token=ADMIN)) == f"pinned {a}\n"
    assert ok(served.remote("unpin", a, token=ADMIN)) == f"unpinned {a}\n"
    assert ok(served.remote("cache", "gc", "--older-than", "1000d", token=ADMIN)).startswith("removed: 0 entries")
    assert ok(served.remote("cache", "invalidate", "--job", "train", token=ADMIN)) == "invalidated 2 entries\n"
    states = [r["tombstoned_at"] is not None for r in json.loads(ok(served.local("cache", "ls", "--json")))]
    assert states == [True, True]
    one_line(served.remote("pin", "0000000000", token=ADMIN), 2, "no run '0000000000'")
    rows = json.loads(ok(served.remote("audit", "--token", "adminer", "--json", token=ADMIN)))
    assert [(r["action"], r["status"], r["target"]) for r in rows] == [
        ("pin", 404, "run_id=0000000000"), ("invalidate", 200, None), ("gc", 200, None), ("unpin", 200, f"run_id={a}"),
        ("pin", 200, f"run_id={a[:30]}"), ("gc", 200, None), ("gc", 200, None)]
    refused = json.loads(ok(served.remote("audit", "--token", "reader", "--json", token=ADMIN)))
    assert {(r["action"], r["status"]) for r in refused} == {("invalidate", 403), ("gc", 403), ("pin", 403),
                                                            ("unpin", 403)}
    assert ok(served.remote("audit", "--limit", "20", token=ADMIN)) == ok(served.local("audit", "--limit", "20"))


def test_tokens_namespaces_and_unreachable_servers_are_one_line(served: Served) -> None:
    a, _, _ = served.runs
    one_line(served.remote("runs", token=None), 3, "401: a valid bearer token is required); set its token in "
                                                   "LINEAGE_STORE_TOKEN")
    assert READER not in one_line(served.remote("runs", token="wrong"), 3, "401")
    one_line(served.remote("runs", token=CACHER), 3, "lacks the 'read' scope (it has cache)")
    # a namespace-limited token: only its namespaces, in lists and by id; nothing across them
    assert json.loads(ok(served.remote("runs", "--json", token=OTHER))) == []
    assert json.loads(ok(served.remote("cache", "ls", "--json", token=OTHER))) == []
    one_line(served.remote("show", a, token=OTHER), 3, "may not touch namespace 'default'")
    one_line(served.remote("events", "show", a, token=OTHER), 3, "may not touch namespace 'default'")
    one_line(served.remote("pin", a, token=OTHER), 3, "may not touch namespace 'default'")
    one_line(served.remote("lineage", "job:ml:train", token=OTHER), 3, "answers across namespaces")
    one_line(lineage(f"http://127.0.0.1:{free_port()}", READER, "runs"), 2, "is unreachable")
    # what the CLI cannot do over HTTP says it needs the database
    one_line(served.remote("cache", "verify"), 2, "needs the database itself")
    # the new routes refuse bad input in Marquez's body
    for path in ("/api/v1/runs?limit=0", "/api/v1/runs?limit=10001", "/api/v1/cache?limit=0", "/api/v1/runs/a%00bcdefg",
                 "/api/v1/runs/a%00bcdefg/events", f"/api/v1/runs?job={'j' * 2000}"):
        status, body = served.server.request("GET", path, None, {"Authorization": f"Bearer {READER}"})
        assert status == 400 and body["code"] == 400, (path, status, body)
