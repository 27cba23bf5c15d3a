"""One store, one API server, one UI server and one browser for the whole UI session (:func:`site`).

The store is filled by real producers: the demo pipeline (examples/demo_pipeline.py, run against the store as a
user runs it), then, through ``POST /api/v1/lineage``, the Airflow DAG's golden events, a Spark job with column
lineage and a report with no version facets and many runs (tests/ui/producers.py). ``lineage serve`` serves it;
the Marquez web UI 0.51.1 (tests/services/marquez_web.py) proxies to it; headless Chromium drives the UI.

``LINEAGE_UI_API=marquez`` points the same UI at a real Marquez 0.51.1 (tests/services/marquez.py, on a fresh
PostgreSQL) fed the same events instead: the reference the views are written against (what passes there and
fails here is a difference from Marquez). Screenshots go to ``$LINEAGE_TEST_ARTIFACTS/ui`` (default
``test-artifacts/ui`` in the repository).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..services.lineage_server import Server, request
from ..services.marquez_web import Browser, MarquezWeb, prepare_ui
from . import producers
from .page import Page

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo_pipeline.py"
AGAINST = os.environ.get("LINEAGE_UI_API", "lineage")


def artifacts_dir() -> Path:
    return Path(os.environ.get("LINEAGE_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "ui"


@dataclass
class Site:
    page: Page
    events: list[dict[str, Any]]  # every event the API server was given
    posted: list[dict[str, Any]]  # those sent by the producers other than the demo
    since: dt.datetime  # the oldest event time (minus a margin)

    def runs_of(self, namespace: str, job: str) -> int:
        """How many runs of the job the producers sent."""
        return len({e["run"]["runId"] for e in self.events
                    if e["job"]["namespace"] == namespace and e["job"]["name"] == job and "run" in e})


def _run_demo(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    env.update(LINEAGE_HOME=str(home), LINEAGE_STORE_URL=f"sqlite:///{home / 'lineage.db'}",
               PYTHONPATH=str(ROOT))  # this checkout's lineage_core, whichever the venv installed
    r = subprocess.run([sys.executable, str(DEMO)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"the demo pipeline failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"


def _stored_events(port: int) -> list[dict[str, Any]]:
    status, body = request(port, "GET", "/api/v1/events/lineage?limit=10000&sortDirection=asc")
    assert status == 200, f"GET /api/v1/events/lineage -> {status} {body}"
    events: list[dict[str, Any]] = body["events"]
    return events


def _post(port: int, events: list[dict[str, Any]]) -> None:
    for e in events:
        status, body = request(port, "POST", "/api/v1/lineage", json.dumps(e).encode())
        assert status in (200, 201), f"POST /api/v1/lineage of {e['job']['name']} {e['eventType']}: {status} {body}"


def _their_events(demo: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    ours: dict[str, Any] = {}
    for e in demo:
        ours.update(e["run"].get("facets") or {})
    assert "lineage_cache" in ours and "lineage_environment" in ours, "the demo's events carry none of our facets"
    return (producers.spark_events(now - dt.timedelta(hours=3, minutes=30))
            + producers.report_events(now - dt.timedelta(hours=3))
            + producers.airflow_events(now - dt.timedelta(hours=2), ours))


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui")
    home = root / "lineage-home"
    _run_demo(home)
    stoppers = []
    try:
        ours = Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": f"sqlite:///{home / 'lineage.db'}"})
        stoppers.append(ours.stop)
        demo = _stored_events(ours.port)
        now = dt.datetime.now(dt.timezone.utc)
        posted = _their_events(demo, now)
        api_port = ours.port
        if AGAINST == "marquez":
            from ..services.marquez import MarquezServer
            from ..services.postgres import PostgresServer

            pg = PostgresServer().start()
            stoppers.append(pg.stop)
            marquez = MarquezServer(pg).start()
            stoppers.append(marquez.stop)
            api_port = marquez.port
            _post(api_port, demo)
        elif AGAINST != "lineage":
            raise AssertionError(f"LINEAGE_UI_API={AGAINST!r}: 'lineage' (default) or 'marquez'")
        _post(api_port, posted)
        web = MarquezWeb(prepare_ui(), api_port, log=root / "marquez-web.log")
        stoppers.append(web.stop)
        browser = Browser()
        stoppers.append(browser.quit)
        shots = artifacts_dir()
        shots.mkdir(parents=True, exist_ok=True)
        yield Site(Page(browser, web.url, shots), demo + posted, posted, now - dt.timedelta(hours=4))
    finally:
        for stop in reversed(stoppers):
            stop()


@pytest.fixture
def page(site: Site) -> Page:
    return site.page
