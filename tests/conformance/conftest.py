"""Session fixtures of the conformance suite: a real Marquez on the session's PostgreSQL, `lineage serve` on
SQLite and on PostgreSQL, the corpus built once and sent to each; Marquez's log is attached to every failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..services.lineage_server import Server
from ..services.marquez import MarquezError, MarquezServer
from ..services.postgres import PostgresServer
from .session import Corpus, Loaded, Pair, now

_running: list[MarquezServer] = []
_loaded: list[Loaded] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and _running:
        report.sections.append(("Marquez log", _running[0].log_tail(120)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for s in _loaded:
        n = len(s.answers)
        terminalreporter.write_line(f"conformance: {s.name} took {n} events + {len(s.bad)} bad inputs in "
                                    f"{s.seconds:.1f} s ({n / s.seconds:.1f} events/s, 4 client threads)")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus.build(tmp_path_factory.mktemp("own-runs") / "lineage-home")


def _refresh_views(pg: PostgresServer, database: str) -> None:
    """Marquez's hourly job refreshes the materialised view its lineage-event stats read for past hours; do it
    now, so its stats show what it shows within the hour."""
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=lineage dbname={database}", autocommit=True) as c:
        c.execute("refresh materialized view lineage_events_by_type_hourly_view")


@pytest.fixture(scope="session")
def marquez(pg_server: PostgresServer, corpus: Corpus) -> Iterator[Loaded]:
    since, problem = now(), None
    try:
        server = MarquezServer(pg_server).start()
    except MarquezError as e:
        problem = str(e)
    if problem:  # a failure, never a skip: the suite needs a real Marquez (outside the except: no chained trace)
        pytest.fail(problem, pytrace=False)
    _running.append(server)
    try:
        loaded = Loaded.send("marquez", server.port, corpus, since)
        _loaded.append(loaded)
        _refresh_views(pg_server, server.database)
        yield loaded
        loaded.client.close()
    finally:
        _running.remove(server)
        server.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def ours(request: pytest.FixtureRequest, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    home = tmp_path_factory.mktemp(f"ours-{request.param}")
    url = f"sqlite:///{home / 'lineage.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("pg_server").create_database()
    since = now()
    server = Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": url})
    try:
        loaded = Loaded.send(f"ours-{request.param}", server.port, corpus, since)
        _loaded.append(loaded)
        yield loaded
        loaded.client.close()
    finally:
        server.stop()


@pytest.fixture
def pair(ours: Loaded, marquez: Loaded) -> Pair:
    return Pair(ours, marquez)
