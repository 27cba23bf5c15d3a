"""KFP tasks whose only store setting is the lineage server's URL and token (what `TaskSettings(store_secret=...,
token_secret=...)` gives a pod): the same hits and byte-identical outputs as on a database store, with every
run and blob kept by the server. The server is a real `lineage serve` off loopback, from the core venv."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_core.store import Store

from ..services.lineage_server import Server
from .test_kfp_outputs import STEPS, files

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "kfp-pod-t0ken"


@pytest.fixture
def server_store(kfp_local: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    home = tmp_path / "server-home"
    db = f"sqlite:///{home / 'lineage.db'}"
    server = Server({"LINEAGE_SERVER_TOKENS": TOKEN, "LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": db},
                    host="0.0.0.0", python=str(ROOT / ".venv" / "bin" / "python"))
    # what the task pods inherit: the server's URL and the token, no database and no artifact location
    monkeypatch.setenv("LINEAGE_STORE_URL", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("OPENLINEAGE_API_KEY", TOKEN)
    store = Store.from_url(db, (home / "artifacts").as_uri())
    yield store
    store.close()
    server.stop()


def test_tasks_on_the_server_store_hit_and_restore_outputs(server_store: Store, kfp_local: Path,
                                                            lineage_home: Path) -> None:
    from kfp_components.pipelines.finetune_pipeline import finetune_pipeline

    first = finetune_pipeline()
    second = finetune_pipeline()
    statuses = {s: [r["status"] for r in reversed(server_store.runs(job=f"finetune.{s}"))] for s in STEPS}
    assert statuses == {s: ["COMPLETED", "CACHED"] for s in STEPS}  # recorded by the server, from the pods
    assert second.output == first.output
    before, after = (files(p) for p in sorted(p for p in kfp_local.iterdir() if p.name.startswith("finetune-")))
    assert set(after) == {"make-dataset/dataset", "finetune/model/weights.npy", "finetune/model/config.json"}
    assert after == before
    (train,) = server_store.runs(job="finetune.train", limit=1)
    assert train["context"]["orchestrator"] == "kfp" and train["source_run_id"]
    assert not (lineage_home / "lineage.db").exists() and not (lineage_home / "artifacts").exists()
