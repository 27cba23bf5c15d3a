"""KFP tasks whose only store setting is the lineage server's URL and token (what ``server_store=True`` gives a
pod): the same hits and byte-identical outputs as on a database store, with every run and blob kept by the
server. The server is a real `lineage serve` off loopback, from the core venv. (No ``from __future__ import
annotations`` here: KFP reads the pipeline's annotations as types.)"""

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


def test_server_store_settings_compile_to_one_url_and_one_secret(tmp_path: Path) -> None:
    import yaml
    from kfp import compiler, dsl

    from lineage_core.errors import ConfigError
    from lineage_kfp import ContainerTask, cached_component

    def scale(x: float, factor: float) -> float:
        return x * factor

    component = cached_component(scale, base_image="python:3.11", lineage_server_url="https://lineage.ml.svc:5000",
                                 token_secret="lineage-token", server_store=True)

    @dsl.pipeline(name="scaled")
    def scaled(x: float = 2.0) -> float:
        return component(x=x, factor=3.0).outputs["Output"]

    compiler.Compiler().compile(scaled, str(tmp_path / "p.yaml"))
    spec, platform = yaml.safe_load_all((tmp_path / "p.yaml").read_text())
    env = {e["name"]: e["value"] for e in spec["deploymentSpec"]["executors"]["exec-scale"]["container"]["env"]}
    assert env["LINEAGE_STORE_URL"] == env["OPENLINEAGE_URL"] == "https://lineage.ml.svc:5000"
    (secret,) = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-scale"]["secretAsEnv"]
    assert secret["keyToEnv"] == [{"envVar": "OPENLINEAGE_API_KEY", "secretKey": "token"}]
    with pytest.raises(ConfigError, match="needs lineage_server_url"):
        ContainerTask(server_store=True, token_secret="lineage-token")
    with pytest.raises(ConfigError, match="drop store_secret and artifacts_url"):
        ContainerTask(server_store=True, lineage_server_url="https://x", token_secret="t", artifacts_url="s3://b/a")
    with pytest.raises(ConfigError, match="needs lineage_server_url"):  # field by field, as a component takes them
        cached_component(scale, server_store=True, token_secret="lineage-token")


def test_a_task_with_no_store_setting_says_its_cache_is_lost_with_the_pod(capfd: pytest.CaptureFixture[str],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage_kfp import runtime

    monkeypatch.delenv("LINEAGE_STORE_URL", raising=False)
    monkeypatch.delenv("LINEAGE_HOME", raising=False)
    runtime._warn_if_ephemeral()
    assert "no LINEAGE_STORE_URL in this task" in capfd.readouterr().err
    monkeypatch.setenv("LINEAGE_STORE_URL", "https://lineage:5000")
    runtime._warn_if_ephemeral()
    assert capfd.readouterr().err == ""
