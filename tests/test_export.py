"""`lineage events export --to URL` replays a store's events (ours and another producer's) to an
OpenLineage HTTP endpoint — here a second `lineage serve` on another store — which then answers the
lineage query with the same graph. A dead endpoint gets a one-line error that says where to resume."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lineage_core.cache import default_store
from lineage_core.openlineage.graph import NodeId, lineage
from lineage_core.openlineage.ingest import ingest

from .services.lineage_server import Server
from .services.postgres import free_port
from .test_lineage_graph import FEATURES, MODEL, RAW, step

pytestmark = pytest.mark.usefixtures("backend")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage_core.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def edges(graph: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["origin"], e["destination"]) for n in graph["graph"] for e in n["inEdges"] + n["outEdges"]}


@pytest.mark.slow
def test_export_replays_everything_and_the_target_sees_the_same_graph(
        make_module: Callable[..., ModuleType], tmp_path: Path) -> None:
    m = make_module("from pathlib import Path\nfrom lineage_core import cached\n"
                    "@cached(name='exp.size')\ndef size(path: Path) -> int:\n    return path.stat().st_size\n")
    data = tmp_path / "in.txt"
    data.write_text("x" * 10)
    m.size(data)
    m.size(data)  # a hit: a run too
    store = default_store()
    ingest(store, [step("prepare", [RAW], [FEATURES], 1), step("train", [FEATURES], [MODEL], 2)])

    target_home = tmp_path / "target"
    target = Server({"LINEAGE_HOME": str(target_home), "LINEAGE_STORE_URL": f"sqlite:///{target_home}/t.db"})
    try:
        done = cli("events", "export", "--to", f"http://127.0.0.1:{target.port}")
        assert done.returncode == 0, done.stderr
        assert "sent 6 event(s)" in done.stdout  # 2 foreign + START/COMPLETE of our two runs
        status, body = target.request("GET", "/api/v1/events/lineage?limit=100")
        assert status == 200 and body["totalCount"] == 6
        for start in (NodeId("dataset", *FEATURES), NodeId("dataset", "file", str(data))):
            ours = lineage(store, start, depth=5)
            status, theirs = target.request("GET", f"/api/v1/lineage?nodeId={start}&depth=5")
            assert status == 200
            assert [n["id"] for n in theirs["graph"]] == [n["id"] for n in ours["graph"]]
            assert edges(theirs) == edges(ours) and edges(ours)
        again = cli("events", "export", "--to", f"http://127.0.0.1:{target.port}")
        assert again.returncode == 0 and target.request("GET", "/api/v1/events/lineage")[1]["totalCount"] == 6
    finally:
        target.stop()


@pytest.mark.slow
def test_export_to_a_dead_endpoint_says_so_and_where_to_resume() -> None:
    ingest(default_store(), [step("prepare", [RAW], [FEATURES], 1)])
    done = cli("events", "export", "--to", f"http://127.0.0.1:{free_port()}",
               env={"LINEAGE_EXPORT_TOKEN": "tok-never-printed"})
    assert done.returncode == 2
    assert "refused event 1 of 1" in done.stderr and "resume with --after 2026-11-22T10:01:00" in done.stderr
    assert "tok-never-printed" not in done.stderr + done.stdout
    bad = cli("events", "export", "--to", "http://127.0.0.1:1", "--after", "yesterday")
    assert bad.returncode == 2 and "--after 'yesterday' is not an ISO-8601 time" in bad.stderr
