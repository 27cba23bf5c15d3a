"""The provider as Airflow sees it: registered through the entry point (what `airflow providers list`
shows), its `lineage` connection type and hook, and every DAG in dags/ importing cleanly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lineage_core.runtime import default_store
from lineage_core.settings import Settings

from .conftest import ROOT


def test_provider_registration_and_hook(airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "lineage-core" in manager.providers
    info: Any = manager.providers["lineage-core"]
    assert info.data["connection-types"][0]["connection-type"] == "lineage"
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    assert "lineage" in ProvidersManagerTaskRuntime().hooks

    from lineage_airflow import LineageHook

    store_url = f"sqlite:///{tmp_path}/team.db"
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT",
                       f'{{"conn_type": "lineage", "host": "{store_url}", "login": "ml", "password": "s3cret", '
                       f'"extra": {{"artifacts_url": "{tmp_path}/artifacts", "namespace": "team"}}}}')
    settings = LineageHook().lineage_settings()
    assert (settings.store_url, settings.artifacts_url, settings.namespace) == (
        f"sqlite://ml:s3cret@/{tmp_path}/team.db", f"{tmp_path}/artifacts", "team")
    assert "s3cret" not in repr(settings)
    assert settings.home == Settings.current().home  # the rest is the environment's
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT",
                       f'{{"conn_type": "lineage", "host": "{store_url}", '
                       f'"extra": {{"artifacts_url": "{tmp_path}/artifacts", "namespace": "team"}}}}')
    before = dict(os.environ)
    store = LineageHook().get_conn()
    assert store is default_store(LineageHook().lineage_settings()) and store is not default_store()
    assert Path(store.home) == tmp_path
    ok, message = LineageHook().test_connection()
    assert ok, message
    assert dict(os.environ) == before  # the hook passes settings, it never configures the environment


def test_every_example_dag_imports(airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors
    assert {"train_sklearn", "gpu_finetune", "llm_eval"} <= set(bag.dag_ids)


def test_parsing_a_dag_loads_none_of_the_cache(tmp_path: Path) -> None:
    """What the DAG processor pays per parse of a DAG file with a CachedPythonOperator (no cache options): the
    provider and the integration surface, none of the cache, key or store modules (its execute loads them).
    A fresh process, as a parse is; cache options given at parse are still checked there."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from airflow.sdk import DAG\n"
        "from lineage_airflow import CachedPythonOperator\n"
        "with DAG('parse_only', schedule=None):\n"
        "    CachedPythonOperator(task_id='t', python_callable=len)\n"
        "print(sorted(m for m in sys.modules if m.startswith('lineage_core')))\n"
        "from lineage_core.integration import ConfigError\n"
        "try:\n"
        "    CachedPythonOperator(task_id='u', python_callable=len, cache_options={'evn': 'full'})\n"
        "except ConfigError as e:\n"
        "    print(e)\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    loaded, refused = out.stdout.strip().splitlines()[-2:]
    assert loaded == str(["lineage_core", "lineage_core.errors", "lineage_core.integration", "lineage_core.version"])
    assert refused.startswith("u: unknown cache options ['evn']; known: [")
