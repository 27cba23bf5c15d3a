"""The outcome lines a step logs (``cache hit``/``cache miss``) when an adapter reports the step itself: the Airflow
operator and the KFP runtime wrap their calls in ``outcome_reported_by_caller``."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import explain
from lineage_core.cache import default_store
from lineage_core.context import outcome_reported_by_caller

pytestmark = pytest.mark.usefixtures("backend")  # every test here runs on SQLite and on PostgreSQL

STEPS = """
import numpy as np
from lineage_core import cached

@cached
def total(xs, factor=2):
    return float(np.sum(np.array(xs) * 2)) * factor
"""


@pytest.fixture
def steps(make_module: Callable[..., ModuleType]) -> ModuleType:
    return make_module(STEPS, name="steps")


def test_an_adapter_that_reports_the_outcome_gets_no_second_line(steps: ModuleType,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """The Airflow operator and the KFP runtime log a hit in their own words: inside outcome_reported_by_caller the
    core logs no hit line (a task log said it twice). Its miss line still appears, before the step runs (a step that
    then fails has said why it recomputed), and so does what else it logs (a discarded entry)."""
    def outcomes() -> list[str]:
        return [r.message for r in caplog.records if r.message.startswith(("cache hit", "cache miss"))]

    with caplog.at_level(logging.INFO, logger="lineage_core"):
        with outcome_reported_by_caller():
            steps.total([4, 5])
            steps.total([4, 5])
        assert explain(steps.total).hit and [m.split(":")[0] for m in outcomes()] == ["cache miss"]
        caplog.clear()
        steps.total([4, 5])
        expected = steps.total([4, 6])
    assert [m.split(":")[0] for m in outcomes()] == ["cache hit", "cache miss"]
    store = default_store()
    entry = store.lookup(explain(steps.total).key)
    Path(store.artifacts.path_for(entry.artifact_hash)).write_bytes(b"0.0")  # type: ignore[union-attr]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lineage_core"), outcome_reported_by_caller():
        assert steps.total([4, 6]) == expected  # the damaged entry discarded, recomputed
    assert [m.split(":")[0] for m in outcomes()] == ["cache miss"]
    ours = [r.levelno for r in caplog.records if r.name.startswith("lineage_core")]
    assert ours == [logging.WARNING, logging.INFO]


def test_what_a_reported_step_calls_still_logs_its_own_outcome(make_module: Callable[..., ModuleType],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """The caller reports the step it wraps, not the steps (or LLM calls) that step's body makes: those log their
    hit and miss lines as anywhere else."""
    src = "from lineage_core import cached\n@cached\ndef inner(x):\n    return x + 1\n" \
          "@cached\ndef outer(x, y):\n    return inner(x) * y\n"
    mod = make_module(src, name="nested")

    def outcomes() -> list[str]:
        said = [r.message for r in caplog.records]
        return [m.split(" key ")[0] for m in said if m.startswith(("cache hit", "cache miss"))]

    with caplog.at_level(logging.INFO, logger="lineage_core"), outcome_reported_by_caller():
        assert mod.outer(1, 2) == 4
        assert outcomes() == ["cache miss: nested.outer", "cache miss: nested.inner"]
        caplog.clear()
        assert mod.outer(1, 3) == 6  # the outer misses again; inner(1) hits inside it
        assert outcomes() == ["cache miss: nested.outer", "cache hit:"]
        assert explain(mod.inner).hit and not explain(mod.outer).hit
        caplog.clear()
        assert mod.outer(1, 3) == 6 and explain(mod.outer).hit
        assert outcomes() == []  # the outer hit is the caller's to say


def test_a_reported_step_that_fails_has_said_why_it_ran(make_module: Callable[..., ModuleType],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Inside outcome_reported_by_caller the miss line is still logged before the step runs: the adapter's own
    line comes after the call, which a failing step never reaches."""
    mod = make_module("from lineage_core import cached\n@cached\ndef boom(x):\n    raise RuntimeError(x)\n",
                      name="boom")
    with caplog.at_level(logging.INFO, logger="lineage_core"), outcome_reported_by_caller(), \
            pytest.raises(RuntimeError):
        mod.boom(1)
    assert any(r.message.startswith("cache miss: boom.boom") and "first run" in r.message for r in caplog.records)
