from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lineage_core import capture_environment, diff_environments
from lineage_core.cache import default_store
from lineage_core.environment import EnvironmentSnapshot, distributions_for_modules
from lineage_core.keys import KeyManifest, explain_difference
from lineage_core.redact import redact_url


def test_capture_has_python_packages_and_platform() -> None:
    env = capture_environment()
    assert env.python.count(".") == 2 and env.implementation == "cpython"
    assert "numpy" in env.packages and "blake3" in env.packages and len(env.packages) > 50
    assert env.machine


def test_secrets_are_redacted_everywhere(monkeypatch: pytest.MonkeyPatch, lineage_home: Path) -> None:
    monkeypatch.setenv("LINEAGE_ENV_ALLOWLIST", "MY_*")
    monkeypatch.setenv("MY_API_TOKEN", "tok-SUPERSECRET")
    monkeypatch.setenv("MY_DB_URL", "postgresql://user:SUPERSECRET@db:5432/x")
    monkeypatch.setenv("MY_PLAIN", "visible")
    env = capture_environment()
    assert env.env_vars["MY_API_TOKEN"] == "***"
    assert env.env_vars["MY_DB_URL"] == "postgresql://user:***@db:5432/x"
    assert env.env_vars["MY_PLAIN"] == "visible"
    store = default_store()
    store.put_environment(env)
    db = b"".join(f.read_bytes() for f in lineage_home.glob("lineage.db*"))  # the db and its WAL
    assert b"SUPERSECRET" not in db and b"visible" in db


def test_snapshot_stored_once_per_content_hash() -> None:
    store = default_store()
    env = capture_environment()
    h1, h2 = store.put_environment(env), store.put_environment(EnvironmentSnapshot.from_dict(env.to_dict()))
    with store.engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM environments").scalar() == 1
    assert h1 == h2 and store.get_environment(h1) == env


def test_diff_environments() -> None:
    a = capture_environment()
    b = EnvironmentSnapshot.from_dict(json.loads(json.dumps(a.to_dict())))
    b.packages["scikit-learn"] = "99.0"
    b.packages["newpkg"] = "1.0"
    del b.packages["numpy"]
    b.python = "3.99.0"
    d = diff_environments(a, b)
    assert d.changed["scikit-learn"][1] == "99.0" and d.added == {"newpkg": "1.0"} and "numpy" in d.removed
    assert d.other["python"] == (a.python, "3.99.0")
    assert diff_environments(a, a).empty


def test_imports_map_to_distributions() -> None:
    assert distributions_for_modules(["sklearn", "numpy", "json", "os"]) == ["numpy", "scikit-learn"]


def test_package_upgrade_explained() -> None:
    base = dict(scope="default", step="s", code={"f() in m.py": "blake3:1"}, params={}, inputs={}, outputs="o",
                env={"policy": "imports", "python": "3.11", "packages": {"scikit-learn": "1.5.2"}})
    new = {**base, "env": {"policy": "imports", "python": "3.11", "packages": {"scikit-learn": "1.6.1"}}}
    reasons = explain_difference(KeyManifest.build(**base), KeyManifest.build(**new))
    assert reasons == ["package scikit-learn 1.5.2 → 1.6.1"]


def test_redact_url() -> None:
    assert redact_url("s3://key:secret@bucket/x and http://a:b@h") == "s3://key:***@bucket/x and http://a:***@h"


def test_gpu_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU here: a stand-in nvidia-smi prints exactly what a real H100 host printed for our query."""
    import lineage_core.environment as environment

    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 580.159.04, 9.0'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    environment._gpu.cache_clear()
    try:
        gpu = capture_environment().gpu
    finally:
        environment._gpu.cache_clear()
    assert gpu["gpus"] == ["NVIDIA H100 80GB HBM3"] and gpu["driver"] == "580.159.04"
    assert gpu["compute_capability"] == "9.0" and "cuda" in gpu  # None here: no libcuda on this machine


def test_image_digest_from_env_and_downward_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = "sha256:" + "ab" * 32
    podinfo = tmp_path / "image"
    podinfo.write_text(f"docker-pullable://registry/train@{digest}\n")
    monkeypatch.setenv("LINEAGE_PODINFO_IMAGE_FILE", str(podinfo))
    assert capture_environment().image_digest == digest
    monkeypatch.setenv("LINEAGE_IMAGE_DIGEST", "sha256:" + "cd" * 32)
    assert capture_environment().image_digest == "sha256:" + "cd" * 32
