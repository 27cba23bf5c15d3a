"""The provider as Airflow sees it: registered through the entry point (what `airflow providers list`
shows), its `lineage` connection type and hook, and every DAG in dags/ importing cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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

    for var in ("LINEAGE_STORE_URL", "LINEAGE_ARTIFACTS_URL", "LINEAGE_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)  # the hook sets them: restored after the test
    store_url = f"sqlite:///{tmp_path}/team.db"
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT",
                       f'{{"conn_type": "lineage", "host": "{store_url}", '
                       f'"extra": {{"artifacts_url": "{tmp_path}/artifacts", "namespace": "team"}}}}')
    settings = LineageHook().settings()
    assert settings == {"LINEAGE_STORE_URL": store_url, "LINEAGE_ARTIFACTS_URL": f"{tmp_path}/artifacts",
                        "LINEAGE_NAMESPACE": "team"}
    ok, message = LineageHook().test_connection()
    assert ok, message


def test_every_example_dag_imports(airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors
    assert {"train_sklearn", "gpu_finetune", "llm_eval"} <= set(bag.dag_ids)
