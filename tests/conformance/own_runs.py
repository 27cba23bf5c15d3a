"""Our own events for the corpus: a small @cached chain (a CSV file -> load -> preprocess -> train ->
evaluate, plus a step that fails), run three times in a fresh LINEAGE_HOME (all misses, all hits, a parameter
change), then every stored run's events rebuilt from the store (:func:`lineage_core.openlineage.records
.run_events`), as the server's sync and ``lineage events export`` build them.

Run as a script in its own process (``python -m tests.conformance.own_runs``, LINEAGE_HOME set): it prints the
events as one JSON list.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from lineage_core import cached
from lineage_core.openlineage.records import run_events
from lineage_core.settings import Settings
from lineage_core.store import Store
from lineage_core.store.ol_sync import SyncLedger


@cached
def load(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


@cached
def preprocess(raw: pd.DataFrame, scale: float = 1.0) -> pd.DataFrame:
    return raw.assign(x=raw["x"] * scale, label=raw["y"] > raw["y"].median())


@cached
def train(data: pd.DataFrame, C: float = 1.0) -> dict[str, float]:
    return {"slope": float((data["x"] * data["y"]).sum() / (data["x"] ** 2).sum()) / C}


@cached
def evaluate(data: pd.DataFrame, model: dict[str, float]) -> dict[str, float]:
    return {"mse": float(((data["x"] * model["slope"] - data["y"]) ** 2).mean())}


@cached
def broken(data: pd.DataFrame) -> float:
    raise RuntimeError("the broken step fails on purpose")


def pipeline(path: Path, C: float) -> None:
    data = preprocess(load(path))
    evaluate(data, train(data, C))
    with contextlib.suppress(RuntimeError):
        broken(data)


def events() -> list[dict[str, Any]]:
    home = Path(os.environ["LINEAGE_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    csv = home / "measurements.csv"
    csv.write_text("x,y\n" + "".join(f"{i},{2 * i + i % 3}\n" for i in range(1, 40)))
    for C in (1.0, 1.0, 0.5):
        pipeline(csv, C)
    settings = Settings.from_env()  # the runs' database, read through SQL by the sync as by `lineage serve`
    store = Store.from_url(settings.resolved_store_url, settings.resolved_artifacts_url)
    out: list[dict[str, Any]] = []
    for run in SyncLedger(store).runs_changed(0.0):
        out += run_events(store, run.id)
    return sorted(out, key=lambda e: (e["eventTime"], e["eventType"] != "START"))


if __name__ == "__main__":
    json.dump(events(), sys.stdout)
