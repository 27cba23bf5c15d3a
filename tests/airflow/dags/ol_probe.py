"""A two-task DAG whose lineage comes only from Airflow itself (inlets/outlets): what the Airflow
OpenLineage provider sends for any DAG, before our operators add anything."""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

RAW = Asset("file:///data/lake/raw/orders.csv")
MODEL = Asset("file:///data/lake/models/clf.pkl")


def _noop() -> str:
    return "ok"


with DAG("ol_probe", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False):
    extract = PythonOperator(task_id="extract", python_callable=_noop, outlets=[RAW])
    train = PythonOperator(task_id="train", python_callable=_noop, inlets=[RAW], outlets=[MODEL])
    extract >> train
