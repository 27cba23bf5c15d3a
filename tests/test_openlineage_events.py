"""Every event we build validates against the official OpenLineage JSON Schemas (../shared, offline),
and every facet against its own schema — ours shipped in the package, the standard ones from the spec."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from referencing import Registry

from lineage_core import explain
from lineage_core.cache import default_store
from lineage_core.context import run_context
from lineage_core.openlineage.records import run_events

from .services.olspec import check_event, spec_registry, validate

RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

pytestmark = pytest.mark.usefixtures("backend")  # events are rebuilt from SQLite and PostgreSQL stores


@pytest.fixture(scope="module")
def registry() -> Registry:
    return spec_registry()


STEPS = '''
from pathlib import Path
import pandas as pd
from lineage_core import cached

@cached(name="ol.prepare")
def prepare(path: Path, limit: int = 3) -> pd.DataFrame:
    return pd.read_csv(path).head(limit)

@cached(name="ol.broken")
def broken(x: int) -> int:
    raise ValueError(f"bad input {x}")
'''


def test_events_of_real_runs_validate(registry: Registry, make_module: Callable[..., ModuleType],
                                      tmp_path: Path) -> None:
    m = make_module(STEPS)
    data = tmp_path / "data.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "b": ["w", "x", "y", "z"]}).to_csv(data, index=False)
    parent = {"run_id": "01a20363-941a-7e0f-a3c4-9909cb9e679b", "namespace": "airflow", "name": "dag.task",
              "root": {"run_id": "01a20363-941a-7e0f-a3c4-9909cb9e6700", "namespace": "airflow", "name": "dag"}}
    m.prepare(data)
    miss = explain(m.prepare).run_id
    with run_context(orchestrator="airflow", parent=parent):
        m.prepare(data)
    hit = explain(m.prepare)
    with pytest.raises(ValueError):
        m.broken(1)
    failed = default_store().runs(job="ol.broken")[0]["id"]
    store = default_store()
    for run_id in (miss, hit.run_id, failed):
        events = run_events(store, run_id)
        assert events[0]["eventType"] == "START" and len(events) == 2
        for e in events:
            check_event(registry, e)
    start, complete = run_events(store, miss)
    assert complete["eventType"] == "COMPLETE" and complete["run"]["runId"] == start["run"]["runId"] == miss
    assert start["inputs"] == complete["inputs"] and complete["inputs"][0]["namespace"] == "file"
    assert complete["inputs"][0]["name"] == str(data)
    (out,) = complete["outputs"]
    assert out["facets"]["version"]["datasetVersion"].startswith("blake3:")
    assert [f["name"] for f in out["facets"]["schema"]["fields"]] == ["a", "b"]
    cache = complete["run"]["facets"]["lineage_cache"]
    assert cache["hit"] is False and cache["missReasons"] and set(cache["components"]) >= {"code", "params", "env"}
    assert "lineage_environment" in start["run"]["facets"]
    hit_complete = run_events(store, hit.run_id)[-1]
    assert hit_complete["run"]["facets"]["lineage_cache"]["sourceRunId"] == miss
    assert hit_complete["run"]["facets"]["parent"]["job"]["name"] == "dag.task"
    assert hit_complete["job"]["facets"]["jobType"]["integration"] == "AIRFLOW"
    fail = run_events(store, failed)[-1]
    assert fail["eventType"] == "FAIL" and "bad input 1" in fail["run"]["facets"]["errorMessage"]["message"]


def test_our_facet_schemas_reject_wrong_shapes(registry: Registry) -> None:
    from jsonschema import ValidationError

    url = "https://lineage-core.io/spec/facets/1-0-0/LineageCacheRunFacet.json#/$defs/LineageCacheRunFacet"
    good = {"_producer": "https://x", "_schemaURL": url, "hit": True, "key": "blake3:ab"}
    validate(registry, url, good)
    with pytest.raises(ValidationError):
        validate(registry, url, {**good, "hit": "yes"})
    with pytest.raises(ValidationError):
        validate(registry, url, {"_producer": "https://x", "_schemaURL": url, "key": "k"})


def test_secrets_never_reach_events(registry: Registry, make_module: Callable[..., ModuleType],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_ENV_ALLOWLIST", "MY_*")
    monkeypatch.setenv("MY_TOKEN", "hunter2-secret")
    from lineage_core import runtime

    runtime._envs.clear()
    m = make_module("from lineage_core import cached\n@cached\ndef f(api_key, x):\n    return x\n")
    m.f("sk-live-SECRET", 1)
    text = json.dumps(run_events(default_store(), explain(m.f).run_id))
    assert "hunter2-secret" not in text and "sk-live-SECRET" not in text


def test_cli_prints_the_events_of_a_run(registry: Registry, make_module: Callable[..., ModuleType]) -> None:
    import os
    import subprocess
    import sys

    m = make_module("from lineage_core import cached\n@cached\ndef f(x):\n    return x\n")
    m.f(2)
    out = subprocess.run([sys.executable, "-m", "lineage_core.cli", "events", "show", explain(m.f).run_id],
                         capture_output=True, text=True, env=os.environ.copy(), check=True).stdout
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for e in events:
        check_event(registry, e)
