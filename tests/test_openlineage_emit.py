"""Events reach the OpenLineage backend named by the standard client configuration; a down backend
never fails a step, its events are spooled and `lineage events flush` delivers them later."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import explain
from lineage_core.openlineage import emitter

from .services.lineage_receiver import Receiver
from .services.postgres import free_port
from .test_openlineage_events import check_event, registry  # noqa: F401 - the schema registry fixture

STEPS = "from lineage_core import cached\n@cached\ndef f(x):\n    return x * 2\n" \
        "@cached\ndef bad(x):\n    raise RuntimeError('nope')\n"


@pytest.fixture
def fresh_emitter() -> Iterator[None]:
    saved = dict(os.environ)  # openlineage-python writes aliases of its settings into os.environ
    emitter.reset()
    yield
    emitter.reset()
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.usefixtures("fresh_emitter")
def test_runs_emit_start_and_terminal_events(make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch,
                                             registry: object) -> None:  # noqa: F811
    receiver = Receiver()
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
        m = make_module(STEPS)
        m.f(1)
        miss = explain(m.f).run_id
        m.f(1)
        hit = explain(m.f).run_id
        with pytest.raises(RuntimeError):
            m.bad(1)
        assert emitter.emitter().flush(timeout=60)
        by_run = Counter((e["run"]["runId"], e["eventType"]) for e in receiver.events)
        assert by_run[(miss, "START")] == 1 and by_run[(miss, "COMPLETE")] == 1
        assert by_run[(hit, "START")] == 1 and by_run[(hit, "COMPLETE")] == 1
        assert sorted(t for (_, t) in by_run if t == "FAIL") == ["FAIL"]
        for event in receiver.events:
            check_event(registry, event)  # type: ignore[arg-type]
        hit_complete = next(e for e in receiver.events if e["run"]["runId"] == hit and e["eventType"] == "COMPLETE")
        assert hit_complete["run"]["facets"]["lineage_cache"]["sourceRunId"] == miss
    finally:
        receiver.stop()


@pytest.mark.usefixtures("fresh_emitter")
def test_down_backend_spools_and_flush_delivers(make_module: Callable[..., ModuleType],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens here yet
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY__TOTAL", "0")
    m = make_module(STEPS)
    assert m.f(21) == 42  # the step is unaffected
    assert emitter.emitter().flush(timeout=60)
    spool = emitter.spool_path()
    assert spool.exists() and len(spool.read_text().splitlines()) == 2
    receiver = Receiver(port)
    try:
        out = subprocess.run([sys.executable, "-m", "lineage_core.cli", "events", "flush"], capture_output=True,
                             text=True, env=os.environ.copy(), timeout=120)
        assert out.returncode == 0, out.stderr
        assert "sent 2" in out.stdout
        assert [e["eventType"] for e in receiver.events] == ["START", "COMPLETE"]
        assert not spool.exists() or spool.read_text() == ""
    finally:
        receiver.stop()


def test_nothing_runs_when_openlineage_is_not_configured(make_module: Callable[..., ModuleType],
                                                         fresh_emitter: None) -> None:
    m = make_module(STEPS)
    m.f(3)
    assert emitter._EMITTER is None and not emitter.spool_path().exists()


@pytest.mark.usefixtures("fresh_emitter")
def test_the_background_sender_uses_the_callers_settings(make_module: Callable[..., ModuleType],
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An adapter's settings.use() (the Airflow connection's store and home) reach the thread that builds and
    sends the events: the run is read from the adapter's store and a failed send spools under its home."""
    from lineage_core.settings import Settings, use

    port = free_port()  # nothing listens: every event is spooled
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY__TOTAL", "0")
    theirs = Settings.from_env().replace(home=tmp_path / "adapter-home")
    m = make_module(STEPS)
    with use(theirs):
        assert m.f(5) == 10
    assert emitter.emitter().flush(timeout=60)
    spooled = theirs.home / "spool" / "openlineage.jsonl"
    assert spooled.exists() and len(spooled.read_text().splitlines()) == 2
    assert not emitter.spool_path().exists()  # nothing under the environment's home
