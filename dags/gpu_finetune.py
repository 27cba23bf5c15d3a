"""Data prep in a cached task, then fine-tuning in a pod on a GPU node that runs only when something changed.

``prepare`` is a cached Python task; its XCom is a reference to the stored examples, whose URI (in the
content-addressed artifact store, so immutable) the training pod reads. ``train`` is a
CachedKubernetesPodOperator: its key is the image digest, the command, the literal env (EPOCHS, LR), the
content of its input and the GPU class. On a hit no pod is created and the XCom lists the outputs with
their content hashes; on a miss the pod runs ``lineage exec -- python finetune.py …``, which records the
container's environment (CUDA, GPU, packages) and its outputs, and sends its lineage to the lineage
server as a child of this task's run.

Deployment settings are Airflow Variables: ``lineage_server_url`` (the lineage server as the cluster
sees it), ``lineage_artifacts_url`` (the artifact store, e.g. s3://…) and ``models_url`` (where models
go). The pod's store URL and the server token are Kubernetes secrets (``lineage-store``, ``lineage-token``).
The pod's GPUs, shared memory and lineage settings are one ``ContainerTask`` (the names KFP components take).

``train`` reads the file behind ``prepare``'s reference: with ``LINEAGE_DISABLED`` (or ``LINEAGE_CACHE=off``)
``prepare``'s XCom is the rows themselves, not a reference, so this DAG needs the cache on.
"""

from __future__ import annotations

import datetime as dt
import random

from airflow.sdk import dag

from lineage_airflow import CachedKubernetesPodOperator, CacheSpec, ContainerTask, cached_task

IMAGE = "ghcr.io/lineage-core/finetune@sha256:" + "4f" * 32  # examples/finetune/Dockerfile, pinned by digest
DATA = "{{ ti.xcom_pull(task_ids='prepare')['uri'] }}"
OUT = "{{ var.value.get('models_url', '/tmp/lineage-models') }}/finetune"


@cached_task
def prepare(n: int = 256, seed: int = 11) -> list[dict[str, object]]:
    rng = random.Random(seed)  # noqa: S311 - deterministic example data, not security
    rows = []
    for _ in range(n):
        x = [rng.uniform(-1, 1) for _ in range(4)]
        rows.append({"x": x, "y": int(x[0] + 0.5 * x[1] - x[2] > 0)})
    return rows


@dag(dag_id="gpu_finetune", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False,
     tags=["lineage-core", "example", "gpu"])
def gpu_finetune() -> None:
    train = CachedKubernetesPodOperator(
        task_id="train", name="finetune", namespace="ml", image=IMAGE,
        cmds=["python", "finetune.py"], arguments=["--data", DATA, "--out", OUT],
        env_vars={"EPOCHS": "5", "LR": "0.1"}, inputs=[DATA], outputs=[OUT],
        cache=CacheSpec(require_digest=True),
        task=ContainerTask(
            gpus=1, gpu_type="NVIDIA-A100-SXM4-80GB", shm_size="8Gi",
            lineage_server_url="{{ var.value.get('lineage_server_url', '') }}",
            token_secret="lineage-token",  # noqa: S106 - the name of a Kubernetes secret
            store_secret="lineage-store",  # noqa: S106 - the name of a Kubernetes secret
            artifacts_url="{{ var.value.get('lineage_artifacts_url', '') }}",
        ),
        kubernetes_conn_id="kubernetes_default", get_logs=True,
    )
    prepare() >> train


gpu_finetune()
