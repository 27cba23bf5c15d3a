"""prepare → train → evaluate with scikit-learn, every step cached by lineage-core.

Run it twice and the second run is all cache hits (no callable runs; each task's log names the run that
produced its value). Change one task's code and only it and what is downstream of it run again. The
XComs are artifact references, never the data; lineage (with our cache and environment facets) goes out
through Airflow's OpenLineage provider when it is configured.
"""

from __future__ import annotations

import datetime as dt

import sklearn_steps
from airflow.sdk import dag

from lineage_airflow import cached_task

# The steps live in a plain module so the Kubeflow pipeline runs the very same functions: a step computed
# here is a cache hit there (and back). A fitted estimator has no portable format: train and evaluate opt in
# to pickle, keyed all the same.
prepare = cached_task(name="sklearn.prepare")(sklearn_steps.prepare)
train = cached_task(name="sklearn.train", pickle=True)(sklearn_steps.train)
evaluate = cached_task(name="sklearn.evaluate", pickle=True)(sklearn_steps.evaluate)


@dag(dag_id="train_sklearn", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False,
     tags=["lineage-core", "example"])
def train_sklearn() -> None:
    frame = prepare()
    evaluate(train(frame), frame)


train_sklearn()
