"""Tags on both backends, on the database and through a real ``lineage serve``: a tag moves, ``JOB@NAME`` resolves
wherever a run id is accepted (show, diff, the read API, the store API), every move is kept (who, when, from, to),
``rollback --previous`` walks back, a tagged run is pinned against gc while the tag points at it, moving a tag
needs an ``admin`` token and leaves an audit row naming the token, and a namespace-limited token neither sees nor
moves tags outside its namespaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import explain
from lineage_core.cache import default_store
from lineage_core.errors import ConfigError, RunNotFoundError
from lineage_core.retention import plan_garbage
from lineage_core.tags import history, move_tag, previous_run, tags

from .services.lineage_server import Server

pytestmark = pytest.mark.usefixtures("backend")

READER, ADMIN, OTHER = "reader-t0ken", "admin-t0ken", "other-t0ken"
TOKENS = f"reader:{READER}:read\nadminer:{ADMIN}:read,admin\nother-team:{OTHER}:read,admin:other\n"


@pytest.fixture
def runs(make_module: Callable[..., ModuleType]) -> tuple[ModuleType, list[str]]:
    m = make_module("from lineage_core import cached\n@cached(name='train')\ndef train(lr):\n    return {'lr': lr}\n")
    ids = []
    for lr in (0.1, 0.2, 0.3):
        m.train(lr)
        ids.append(explain(m.train).run_id)
    return m, ids


def lineage(*args: str, url: str | None = None, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LINEAGE_STORE_TOKEN", "OPENLINEAGE_API_KEY")}
    if url:
        env["LINEAGE_STORE_URL"] = url
    if token:
        env["LINEAGE_STORE_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "lineage_core.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, (p.stdout, p.stderr)
    return p.stdout


def test_a_tag_moves_resolves_and_keeps_its_history(runs: tuple[ModuleType, list[str]]) -> None:
    _, (a, b, c) = runs
    store = default_store()
    first = move_tag(store, a, "prod", by="alice")
    assert (first.from_run_id, first.to_run_id, first.job, first.by) == (None, a, "train", "alice")
    assert store.get_run("train@prod")["id"] == a
    move_tag(store, b[:23], "prod", by="bob")  # a prefix names the run (past UUIDv7's millisecond bits)
    move_tag(store, "train@prod", "baseline")  # a tag names the run too
    assert store.get_run("train@prod")["id"] == b and store.get_run("train@baseline")["id"] == b
    moves = history(store, "train", "prod")
    assert [(m.from_run_id, m.to_run_id, m.by, m.action) for m in moves] == [
        (a, b, "bob", "tag"), (None, a, "alice", "tag")]
    assert moves[0].at >= moves[1].at
    assert {(t.name, t.run_id) for t in tags(store, "train")} == {("prod", b), ("baseline", b)}
    assert [t.name for t in tags(store, run_ref=a)] == []
    # rollback --previous walks back one deliberate move at a time, never forward again
    move_tag(store, c, "prod")
    dicts = [m.to_dict() for m in history(store, "train", "prod")]
    assert previous_run(dicts) == b
    move_tag(store, b, "prod", action="rollback")
    assert previous_run([m.to_dict() for m in history(store, "train", "prod")]) == a
    move_tag(store, a, "prod", action="rollback")
    with pytest.raises(RunNotFoundError, match="has no run before"):
        previous_run([m.to_dict() for m in history(store, "train", "prod")])
    # what is refused, and how
    with pytest.raises(RunNotFoundError, match="no tag 'nope' on job 'train'"):
        store.get_run("train@nope")
    with pytest.raises(RunNotFoundError, match="no tag 'prod' on job 'other'"):
        store.get_run("other@prod")
    for bad in ("", "a@b", "x/y", "-lead", "n" * 129):
        with pytest.raises(ConfigError, match="is not valid"):
            move_tag(store, a, bad)


def test_a_tag_in_another_job_and_one_job_name_in_two_namespaces(runs: tuple[ModuleType, list[str]],
                                                                 make_module: Callable[..., ModuleType]) -> None:
    _, (a, b, _) = runs
    store = default_store()
    move_tag(store, a, "release", job="pipeline")  # --job: the tag lives in another job of the run's namespace
    assert store.get_run("pipeline@release")["id"] == a and [t.job for t in tags(store, "pipeline")] == ["pipeline"]
    other = make_module("from lineage_core import cached\n"
                        "@cached(name='train', namespace='other')\ndef train(lr):\n    return lr\n")
    other.train(1.0)
    theirs = explain(other.train).run_id
    move_tag(store, b, "prod")
    move_tag(store, theirs, "prod")
    with pytest.raises(RunNotFoundError, match="ambiguous: job 'train' has it in namespaces default, other"):
        store.get_run("train@prod")
    assert store.get_run("default:train@prod")["id"] == b and store.get_run("other:train@prod")["id"] == theirs
    p = lineage("rollback", "train@prod")
    assert p.returncode == 2 and "is ambiguous" in p.stderr
    move_tag(store, a, "prod")
    out = ok(lineage("rollback", "default:train@prod"))  # walks default's history only
    assert out.startswith(f"rolled back train@prod: {a} → {b}\n") and store.get_run("other:train@prod")["id"] == theirs


def test_the_cli_tags_shows_and_diffs_by_tag(runs: tuple[ModuleType, list[str]]) -> None:
    _, (a, b, _) = runs
    assert ok(lineage("tag", a, "prod")) == f"tagged train@prod → {a}\n"
    assert ok(lineage("tag", b, "prod")) == f"tagged train@prod → {b} (was {a})\n"
    shown = json.loads(ok(lineage("show", "train@prod", "--json")))
    assert shown["id"] == b and shown["tags"] == ["train@prod"]
    assert "  tags train@prod\n" in ok(lineage("show", b))
    assert json.loads(ok(lineage("show", a, "--json")))["tags"] == []  # the tag moved on
    assert "parameter 'lr' changed: 0.1 → 0.2" in ok(lineage("diff", a, "train@prod"))
    hist = json.loads(ok(lineage("tags", "--history", "train@prod", "--json")))
    assert [(h["from_run_id"], h["to_run_id"]) for h in hist] == [(a, b), (None, a)]
    out = ok(lineage("rollback", "train@prod"))
    assert out.startswith(f"rolled back train@prod: {b} → {a}\n") and "parameter 'lr' changed: 0.2 → 0.1" in out
    assert json.loads(ok(lineage("show", "train@prod", "--json")))["id"] == a
    p = lineage("rollback", "train@prod", "--to", a)
    assert p.returncode == 2 and f"train@prod already points at {a}" in p.stderr
    p = lineage("show", "train@gone")
    assert p.returncode == 2 and "no tag 'gone' on job 'train'" in p.stderr and "Traceback" not in p.stderr


def test_a_tagged_run_is_pinned_against_gc_while_the_tag_points_at_it(runs: tuple[ModuleType, list[str]]) -> None:
    m, (a, _, _) = runs
    store = default_store()
    move_tag(store, a, "prod")
    plan = plan_garbage(store, older_than=0, grace=0)  # everything is expired
    assert plan.kept_pinned == 1 and len(plan.entries) == 2 and a not in plan.runs
    ok(lineage("cache", "gc", "--older-than", "0s", "--grace", "0s"))
    m.train(0.1)
    assert explain(m.train).hit  # the tagged run's value survived
    move_tag(store, explain(m.train).run_id, "prod")  # the tag moves to the hit: its source stays protected
    assert plan_garbage(store, older_than=0, grace=0).kept_pinned == 1
    m.train(0.4)
    move_tag(store, explain(m.train).run_id, "prod")  # away from both: the old value is no longer protected
    plan = plan_garbage(store, older_than=0, grace=0)
    assert a in plan.runs and plan.kept_pinned == 1


@pytest.fixture
def served(backend: str, tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "tokens").write_text(TOKENS)
    server = Server({"LINEAGE_STORE_URL": backend, "LINEAGE_SERVER_TOKEN_FILE": str(tmp_path / "tokens")},
                    host="0.0.0.0")
    yield server
    server.stop()


@pytest.mark.slow
def test_tags_through_a_real_server(runs: tuple[ModuleType, list[str]], served: Server) -> None:
    _, (a, b, _) = runs
    url = f"http://127.0.0.1:{served.port}"
    p = lineage("tag", a, "prod", url=url, token=READER)
    assert p.returncode == 3 and "lacks the 'admin' scope" in p.stderr
    assert ok(lineage("tag", a, "prod", url=url, token=ADMIN)) == f"tagged train@prod → {a}\n"
    assert ok(lineage("tag", b, "prod", url=url, token=ADMIN)) == f"tagged train@prod → {b} (was {a})\n"
    # reads with a read token print what the database prints
    for args in (["tags", "--json"], ["tags", "--history", "train@prod", "--json"], ["show", "train@prod"],
                 ["diff", a, "train@prod", "--json"]):
        assert ok(lineage(*args, url=url, token=READER)) == ok(lineage(*args)), args
    moves = json.loads(ok(lineage("tags", "--history", "train@prod", "--json", url=url, token=READER)))
    assert [m["by"] for m in moves] == ["adminer", "adminer"]  # who: the token's name, never the token
    status, run = served.request("GET", "/api/v1/runs/train@prod", headers={"Authorization": f"Bearer {READER}"})
    assert status == 200 and run["id"] == b
    status, body = served.request("GET", "/api/v1/runs/train@nope", headers={"Authorization": f"Bearer {READER}"})
    assert status == 404 and "no tag 'nope'" in body["message"]
    # rollback through the server: moves the tag back and prints the diff
    out = ok(lineage("rollback", "train@prod", "--previous", url=url, token=ADMIN))
    assert out.startswith(f"rolled back train@prod: {b} → {a}") and "0.2 → 0.1" in out
    # every move is audited with the token's name
    rows = json.loads(ok(lineage("audit", "--action", "move_tag", "--json", url=url, token=ADMIN)))
    assert [(r["token"], r["status"]) for r in rows] == [("adminer", 200)] * 3 + [("reader", 403)]
    # a namespace-limited token: tags of "default" are outside "other"
    assert json.loads(ok(lineage("tags", "--json", url=url, token=OTHER))) == []
    p = lineage("tag", a, "prod", url=url, token=OTHER)
    assert p.returncode == 3 and "may not touch namespace 'default'" in p.stderr
    status, _ = served.request("GET", "/api/v1/runs/train@prod", headers={"Authorization": f"Bearer {OTHER}"})
    assert status == 403
    assert default_store().get_run("train@prod")["id"] == a  # the refused moves moved nothing
