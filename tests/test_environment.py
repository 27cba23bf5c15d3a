from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lineage_core import capture_environment, diff_environments
from lineage_core.cache import default_store
from lineage_core.environment import EnvironmentSnapshot
from lineage_core.installed import distributions_for_modules
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


def test_the_content_hash_is_the_hash_of_the_snapshots_canonical_json() -> None:
    """content_hash reads the fields without copying them (to_dict deep-copies): the same JSON, so the same names
    for every environment already stored; and another GPU or git state is another hash."""
    from lineage_core.hashing import hash_bytes

    env = capture_environment()
    canonical = json.dumps(env.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    assert env.content_hash == hash_bytes(canonical)
    other = EnvironmentSnapshot.from_dict({**env.to_dict(), "git": {"commit": "0" * 40, "dirty": True}})
    assert other.content_hash != env.content_hash
    assert other.content_hash == hash_bytes(json.dumps(other.to_dict(), sort_keys=True, separators=(",", ":")).encode())


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


# -- the installed set, listed once per installed set (kept on disk under LINEAGE_HOME/cache) --------------------
def _settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Directories changed more than 50 ms ago count as settled (instead of 2 s), and this test waits that long."""
    import time

    from lineage_core import home_cache, installed

    monkeypatch.setattr(home_cache, "SETTLED_NS", 50_000_000)
    installed._installed_memo.clear()
    time.sleep(0.1)


def test_the_installed_set_is_read_from_its_cache_until_a_distribution_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lineage_home: Path,
) -> None:
    from lineage_core import installed

    site = tmp_path / "site"
    (site / "fakepkg-1.0.dist-info").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    _settle(monkeypatch)
    assert installed.installed_distributions()["fakepkg"] == "1.0"
    assert list((lineage_home / "cache").glob("installed-*.json"))  # kept for the next process

    def listing_forbidden(where: str) -> tuple[dict[str, str], bool]:
        raise AssertionError(f"{where} listed again although nothing changed")

    with monkeypatch.context() as m:  # a new process (no memo) reads the file, and lists nothing
        m.setattr(installed, "_list_directory", listing_forbidden)
        installed._installed_memo.clear()
        assert installed.installed_distributions()["fakepkg"] == "1.0"
        assert capture_environment().packages["fakepkg"] == "1.0"

    (site / "fakepkg-1.0.dist-info").rename(site / "fakepkg-1.1.dist-info")  # an upgrade
    (site / "otherpkg-0.3.dist-info").mkdir()  # an install
    _settle(monkeypatch)
    found = installed.installed_distributions()
    assert found["fakepkg"] == "1.1" and found["otherpkg"] == "0.3"
    (site / "otherpkg-0.3.dist-info").rmdir()  # an uninstall
    _settle(monkeypatch)
    assert "otherpkg" not in installed.installed_distributions()


def test_a_directory_that_just_changed_is_listed_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Within the settle window a second change could carry the same mtime (a coarse file clock): such a directory
    is no part of the fingerprint, and is listed on every call."""
    from lineage_core import home_cache, installed

    site = tmp_path / "site"
    (site / "fresh-2.0.dist-info").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(home_cache, "SETTLED_NS", 3600 * 10**9)
    assert all(entry[0] != str(site) for entry in installed.installed_fingerprint())
    assert installed.installed_distributions()["fresh"] == "2.0"
    (site / "fresh-2.0.dist-info").rename(site / "fresh-2.1.dist-info")
    assert installed.installed_distributions()["fresh"] == "2.1"


def test_a_fresh_directory_on_sys_path_costs_one_listing_of_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lineage_home: Path,
) -> None:
    """A KFP task puts its own ``mktemp -d`` (the component's module) first on ``sys.path``: a new directory every
    task. The settled directories are still read from their cache file, and the import-name map is not rebuilt
    for a directory that holds no distribution."""
    import importlib.metadata

    from lineage_core import installed

    site = tmp_path / "site"
    (site / "fakepkg-1.0.dist-info").mkdir(parents=True)
    (site / "fakepkg-1.0.dist-info" / "top_level.txt").write_text("fakemod\n")
    (site / "fakepkg-1.0.dist-info" / "METADATA").write_text("Name: fakepkg\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(site))
    _settle(monkeypatch)
    installed._packages_distributions.cache_clear()
    assert distributions_for_modules(["fakemod"]) == ["fakepkg"]
    caches = sorted(p.name for p in (lineage_home / "cache").iterdir())

    listed: list[str] = []
    real_list = installed._list_directory

    def listing(where: str) -> tuple[dict[str, str], bool]:
        listed.append(where)
        return real_list(where)

    def map_forbidden() -> dict[str, list[str]]:
        raise AssertionError("the import-name map was rebuilt for a directory with no distribution in it")

    for task in range(2):  # two tasks, two fresh directories: each a new process (no memo, no cache)
        fresh = tmp_path / f"task-{task}"
        fresh.mkdir()
        (fresh / "ephemeral_component.py").write_text("")
        with monkeypatch.context() as m:
            m.syspath_prepend(str(fresh))
            m.setattr(installed, "_list_directory", listing)
            m.setattr(importlib.metadata, "packages_distributions", map_forbidden)
            installed._installed_memo.clear()
            installed._packages_distributions.cache_clear()
            listed.clear()
            assert installed.installed_distributions()["fakepkg"] == "1.0"
            assert distributions_for_modules(["fakemod"]) == ["fakepkg"]
            assert set(listed) == {str(fresh)}  # itself only, the settled ones from the cache file
    assert sorted(p.name for p in (lineage_home / "cache").iterdir()) == caches  # no new cache file either
    installed._packages_distributions.cache_clear()

    (site / "newpkg-0.1.dist-info").mkdir()  # a directory that does hold one, fresh: it counts at once
    (site / "newpkg-0.1.dist-info" / "top_level.txt").write_text("newmod\n")
    (site / "newpkg-0.1.dist-info" / "METADATA").write_text("Name: newpkg\nVersion: 0.1\n")
    installed._installed_memo.clear()
    installed._packages_distributions.cache_clear()
    assert installed.installed_distributions()["newpkg"] == "0.1"
    assert distributions_for_modules(["newmod"]) == ["newpkg"]
    installed._packages_distributions.cache_clear()


def test_git_state_outside_a_repository_runs_no_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage_core import environment

    outside, repo = tmp_path / "plain", tmp_path / "repo"
    outside.mkdir()
    (repo / ".git").mkdir(parents=True)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert environment._may_be_in_git(str(repo / "sub")) is True
    assert environment._may_be_in_git(str(outside)) is any(
        os.path.lexists(p / ".git") for p in [outside, *outside.parents])
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))
    assert environment._may_be_in_git(str(outside)) is True


def test_git_state_of_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real repository (an Airflow DAG folder synced by git-sync is one): its commit, dirty only when a tracked
    file changed (an untracked one is not code of this commit), the origin remote without its credentials, and
    nothing before the first commit."""
    import subprocess

    from lineage_core import environment

    for var in [v for v in os.environ if v.startswith("GIT_")]:  # a test run from a hook or `rebase -x` has some
        monkeypatch.delenv(var)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)  # the user's signing, hooks or quoting rules are not ours
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = tmp_path / "dags"
    (repo / "sub").mkdir(parents=True)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    def state() -> dict[str, Any]:
        environment.git_state.cache_clear()
        return dict(environment.git_state(str(repo / "sub")))

    git("init", "-q")
    (repo / "sub" / "dag.py").write_text("x = 1\n")
    assert state() == {}  # no commit yet
    git("add", "."), git("commit", "-qm", "first")
    assert state() == {"commit": git("rev-parse", "HEAD"), "dirty": False}
    (repo / "notes.txt").write_text("untracked\n")
    assert state()["dirty"] is False
    (repo / "sub" / "dag.py").write_text("x = 2\n")
    assert state()["dirty"] is True
    git("remote", "add", "origin", "https://bot:ghp_s3cretT0ken@github.com/team/dags.git")
    said = state()
    assert said["commit"] == git("rev-parse", "HEAD") and "ghp_s3cretT0ken" not in said["remote"]
    assert said["remote"].endswith("@github.com/team/dags.git")
    environment.git_state.cache_clear()


def test_git_is_asked_with_a_deadline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A git that hangs (a network filesystem, a lock) or cannot start costs the task its git state, not the task:
    at the deadline every process is killed, reaped and its pipe closed."""
    import subprocess
    import sys

    from lineage_core.environment import _run_together

    started: list[subprocess.Popen[str]] = []

    class Recorded(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    ok = [sys.executable, "-c", "print('ok')"]
    assert _run_together([ok, [sys.executable, "-c", "import time; time.sleep(60)"]], timeout=1) is None
    assert len(started) == 2 and all(p.returncode is not None and p.stdout and p.stdout.closed for p in started)
    assert started[1].returncode == -9  # killed at the deadline
    assert _run_together([[str(tmp_path / "no-such-git")]], timeout=2) is None
    assert _run_together([ok], timeout=30) == [(0, "ok\n")]


def test_allowlisted_variables_by_name_and_by_pattern_are_the_same_as_matched_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fnmatch

    from lineage_core.environment import captured_env_vars

    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("MY_X", "1")
    monkeypatch.setenv("MY_Y_OPTIONS", "secret-ish")
    pats = ["TZ", "MY_*", "NOT_SET_ANYWHERE", "LANG?"]
    expected = {k: v for k, v in sorted(os.environ.items())
                if any(fnmatch.fnmatchcase(k, p) for p in pats) and not k.endswith("_OPTIONS")}
    got = captured_env_vars(pats)
    assert got == expected and list(got) == sorted(got) and got["MY_X"] == "1" and "MY_Y_OPTIONS" not in got


def test_the_platform_triple_is_what_the_platform_module_reports() -> None:
    import platform

    from lineage_core.environment import platform_triple

    assert platform_triple() == (platform.python_version(), f"{platform.system().lower()}-{platform.release()}",
                                 platform.machine())
    assert capture_environment().python == platform.python_version()


def test_a_snapshots_data_is_what_to_dict_copies() -> None:
    """as_data (what the stores serialise at once) holds exactly to_dict's fields and values, uncopied; the content
    hash is the canonical JSON of either."""
    snap = capture_environment()
    assert snap.as_data() == snap.to_dict()
    assert list(snap.as_data()) == list(snap.to_dict())
    assert snap.as_data()["packages"] is snap.packages and snap.to_dict()["packages"] is not snap.packages
    canonical = json.dumps(snap.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    from lineage_core.hashing.content import hash_bytes

    assert snap.content_hash == hash_bytes(canonical)
