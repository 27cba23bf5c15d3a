"""prepare → train → evaluate with scikit-learn, every step cached by lineage-core.

Run it twice and the second run is all cache hits (no callable runs; each task's log names the run that
produced its value). Change one task's code and only it and what is downstream of it run again. The
XComs are artifact references, never the data; lineage (with our cache and environment facets) goes out
through Airflow's OpenLineage provider when it is configured.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from airflow.sdk import dag

from lineage_airflow import cached_task


@cached_task
def prepare(n_samples: int = 400, seed: int = 7) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n_samples, n_features=8, random_state=seed)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame["label"] = y
    return frame


@cached_task(pickle=True)  # a fitted estimator has no portable format: opt in to pickle, keyed all the same
def train(frame: pd.DataFrame, c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    features = frame.drop(columns=["label"])
    return LogisticRegression(C=c, max_iter=500).fit(features, frame["label"])


@cached_task(pickle=True)
def evaluate(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import accuracy_score

    features = frame.drop(columns=["label"])
    return {"accuracy": float(accuracy_score(frame["label"], model.predict(features))), "rows": float(len(frame))}


@dag(dag_id="train_sklearn", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False,
     tags=["lineage-core", "example"])
def train_sklearn() -> None:
    frame = prepare()
    evaluate(train(frame), frame)


train_sklearn()
