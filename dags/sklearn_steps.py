"""The steps of the scikit-learn example as plain functions, shared by the Airflow DAG (dags/train_sklearn.py)
and the Kubeflow pipeline (kfp_components/pipelines/train_pipeline.py).

No orchestrator is imported here: each one wraps these functions with ``name="sklearn.<step>"``, so a step
computed by either is one cache entry, and a hit for the other (same code, inputs and key-relevant packages,
one shared store). Install this module in the worker's and in the component's image.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def prepare(n_samples: int = 400, seed: int = 7) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n_samples, n_features=8, random_state=seed)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame["label"] = y
    return frame


def train(frame: pd.DataFrame, c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    features = frame.drop(columns=["label"])
    return LogisticRegression(C=c, max_iter=500).fit(features, frame["label"])


def evaluate(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import accuracy_score

    features = frame.drop(columns=["label"])
    return {"accuracy": float(accuracy_score(frame["label"], model.predict(features))), "rows": float(len(frame))}
