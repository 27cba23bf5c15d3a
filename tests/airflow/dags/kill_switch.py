"""Cached tasks of every kind for the kill-switch tests: a TaskFlow chain (``numbers`` → ``total``), a
``CachedPythonOperator`` downstream of it (``doubled``) and a cached pod (``write``) whose output a plain
task reads (``read_back``). The pod's input and output paths and its image's directory are Airflow
Variables the tests set."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow.sdk import DAG, task

from lineage_airflow import CachedKubernetesPodOperator, CachedPythonOperator, cached_task

IMAGE = "ghcr.io/lineage-core/kill-switch@sha256:" + "5e" * 32
SOURCE = "{{ var.value.kill_switch_in }}"
TARGET = "{{ var.value.kill_switch_out }}"
WRITE = "import sys, pathlib; pathlib.Path(sys.argv[2]).write_text(pathlib.Path(sys.argv[1]).read_text().upper())"


@cached_task(name="kill_switch.numbers")
def numbers(n: int = 4) -> list[int]:
    return list(range(1, n + 1))


@cached_task(name="kill_switch.total")
def total(values: list[int]) -> int:
    return sum(values)


def double(value: int) -> int:
    return 2 * value


@task
def read_back(path: str) -> str:
    return Path(path).read_text()


with DAG("kill_switch", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False):
    summed = total(numbers())
    CachedPythonOperator(task_id="doubled", python_callable=double, op_args=[summed],
                         cache_options={"name": "kill_switch.doubled"})

with DAG("kill_switch_pod", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False):
    write = CachedKubernetesPodOperator(
        task_id="write", name="write", namespace="ml", image=IMAGE, cmds=["python", "-c", WRITE],
        arguments=[SOURCE, TARGET], inputs=[SOURCE], outputs=[TARGET], kubernetes_conn_id="kubernetes_default")
    write >> read_back(TARGET)
