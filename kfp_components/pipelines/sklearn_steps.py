"""The steps of the train_sklearn pipeline, as cached KFP components (imported by the task at run time, so
this module defines no pipeline)."""

from typing import Any

import pandas as pd

from lineage_kfp import cached_component


@cached_component(name="sklearn.prepare")
def prepare(n_samples: int = 400, seed: int = 7) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n_samples, n_features=8, random_state=seed)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame["label"] = y
    return frame


@cached_component(name="sklearn.train", pickle=True)
def train(frame: pd.DataFrame, c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=500).fit(frame.drop(columns=["label"]), frame["label"])


@cached_component(name="sklearn.evaluate", pickle=True)
def evaluate(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import accuracy_score

    features = frame.drop(columns=["label"])
    return {"accuracy": float(accuracy_score(frame["label"], model.predict(features))), "rows": float(len(frame))}
