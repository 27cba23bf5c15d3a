"""A small but real ML pipeline, cached by lineage-core (run with `make demo`).

wine dataset (ships with scikit-learn) -> preprocess -> train -> evaluate, run three times:
1. everything computes;  2. everything is a cache hit;  3. a parameter change re-runs only the steps
that depend on it, and each miss says why. Then `lineage runs` lists what happened and `lineage stats` what the
hits saved.

The steps hand each other DataFrames in memory and the model by reference (``train.ref``: a fitted estimator
has no canonical content to key on, its stored bytes do), and the lineage is one graph all the same: each
run records the earlier output its argument is, so `lineage lineage` (or Marquez) draws
load -> preprocess -> train -> evaluate.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HOME = Path(os.environ.setdefault("LINEAGE_HOME", str(Path(__file__).resolve().parent.parent / ".lineage-demo")))

import pandas as pd  # noqa: E402
from sklearn.datasets import load_wine  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from lineage_core import cached, explain  # noqa: E402

NAMESPACE = "demo"


@cached(namespace=NAMESPACE)
def load() -> pd.DataFrame:
    """The raw dataset."""
    return load_wine(as_frame=True).frame


@cached(namespace=NAMESPACE)
def preprocess(raw: pd.DataFrame, test_size: float = 0.25, seed: int = 0) -> pd.DataFrame:
    """Standardise features and mark the train/test split."""
    features = raw.drop(columns="target")
    scaled = (features - features.mean()) / features.std()
    _, test_idx = train_test_split(raw.index, test_size=test_size, random_state=seed, stratify=raw["target"])
    out = scaled.assign(target=raw["target"], split="train")
    out.loc[test_idx, "split"] = "test"
    return out


@cached(namespace=NAMESPACE, pickle=True)
def train(data: pd.DataFrame, C: float = 1.0) -> LogisticRegression:
    rows = data[data["split"] == "train"]
    return LogisticRegression(C=C, max_iter=500).fit(rows.drop(columns=["target", "split"]), rows["target"])


@cached(namespace=NAMESPACE, pickle=True)
def evaluate(data: pd.DataFrame, model: LogisticRegression) -> dict[str, float]:
    rows = data[data["split"] == "test"]
    pred = model.predict(rows.drop(columns=["target", "split"]))
    return {
        "accuracy": round(float(accuracy_score(rows["target"], pred)), 4),
        "f1_macro": round(float(f1_score(rows["target"], pred, average="macro")), 4),
    }


def pipeline(C: float) -> dict[str, float]:
    data = preprocess(load())
    model = train.ref(data, C) if train.passes_by_reference else train(data, C)  # by reference while caching
    return evaluate(data, model)


def report(title: str, C: float) -> None:
    print(f"\n== {title} (C={C})")
    t0 = time.perf_counter()
    metrics = pipeline(C)
    elapsed = time.perf_counter() - t0
    for step in (load, preprocess, train, evaluate):
        out = explain(step)
        verdict = "hit " if out.hit else "MISS"
        why = "" if out.hit else "  <- " + "; ".join(out.reasons)
        print(f"  {verdict} {step.name:<28} run {out.run_id}{why}")
    print(f"  metrics {metrics}   ({elapsed * 1000:.0f} ms)")


def main() -> None:
    if HOME.name == ".lineage-demo" and HOME.exists():
        shutil.rmtree(HOME)  # start the story from an empty store (only the demo's own directory)
    print(f"store: {HOME}")
    report("first run: everything computes", 1.0)
    report("second run: everything is a cache hit", 1.0)
    report("parameter change: only train and evaluate re-run", 0.01)
    print("\n$ lineage runs --limit 12")
    subprocess.run([sys.executable, "-m", "lineage_core.cli", "runs", "--limit", "12"], check=True)
    print("\n$ lineage stats   # what the hits saved: each one its producing run's time")
    subprocess.run([sys.executable, "-m", "lineage_core.cli", "stats"], check=True)


if __name__ == "__main__":
    main()
