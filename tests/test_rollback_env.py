"""Something broke after a package upgrade: roll the tag back and get the earlier artifact. A real step runs in two
processes, before and after an upgrade of the package it imports (a distribution on the path, 1.0 then 2.0);
``lineage rollback`` moves the tag back, prints the package change between the two runs, and ``lineage get`` /
``load`` return the earlier value. ``lineage env RUN --requirements`` of a pod's recorded environment installs
into a fresh venv with uv and reproduces its package set exactly; ``--diff-current`` shows what differs from this
interpreter. On both backends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lineage_core import load
from lineage_core.cache import default_store
from lineage_core.commands import CommandResult, CommandSpec, CommandStep, complete
from lineage_core.environment import EnvironmentSnapshot, capture_environment
from lineage_core.hashing.remote import hash_uri

pytestmark = pytest.mark.usefixtures("backend")

STEP = '''
import fakepkg
from lineage_core import cached, explain

@cached(name="model.train")
def train(n: int) -> list:
    return [fakepkg.SCALE * i for i in range(n)]

train(4)
print(explain(train).run_id)
'''


def install_fakepkg(site: Path, version: str, scale: int) -> None:
    """The package as an installer leaves it: its module and its dist-info (what version lookups read)."""
    for old in site.glob("fakepkg-*.dist-info"):
        shutil.rmtree(old)
    (site / "fakepkg").mkdir(parents=True, exist_ok=True)
    (site / "fakepkg" / "__init__.py").write_text(f"SCALE = {scale}\n")
    info = site / f"fakepkg-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {version}\n")
    (info / "top_level.txt").write_text("fakepkg\n")
    (info / "RECORD").write_text("fakepkg/__init__.py,,\n")


def lineage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage_core.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, (p.stdout, p.stderr)
    return p.stdout


def test_rollback_after_a_package_upgrade_returns_the_earlier_artifact(tmp_path: Path) -> None:
    site, code = tmp_path / "site", tmp_path / "code"
    code.mkdir()
    (code / "pipeline.py").write_text(STEP)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(code), os.environ.get("PYTHONPATH", "")])}

    def run_step() -> str:
        p = subprocess.run([sys.executable, str(code / "pipeline.py")], capture_output=True, text=True, env=env,
                           timeout=120, cwd=code)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    install_fakepkg(site, "1.0", 2)
    good = run_step()
    assert ok(lineage("tag", good, "prod")) == f"tagged model.train@prod → {good}\n"
    install_fakepkg(site, "2.0", -1)  # the upgrade that breaks the model
    bad = run_step()
    assert bad != good and load(bad) == [0, -1, -2, -3]
    ok(lineage("tag", bad, "prod"))
    out = ok(lineage("rollback", "model.train@prod"))
    assert out.startswith(f"rolled back model.train@prod: {bad} → {good}\n"), out
    assert "env: package fakepkg 2.0 → 1.0" in out, out
    assert "fakepkg" in out.split("env:")[0]  # the key says it too: the package is one the step imports
    assert load("model.train@prod") == [0, 2, 4, 6]
    written = Path(ok(lineage("get", "model.train@prod", "-o", str(tmp_path / "model.json"))).strip())
    assert json.loads(written.read_text()) == [0, 2, 4, 6]
    moves = json.loads(ok(lineage("tags", "--history", "model.train@prod", "--json")))
    assert [(m["action"], m["to_run_id"]) for m in moves] == [("rollback", good), ("tag", bad), ("tag", good)]
    # the run's environment against this interpreter (which has no fakepkg)
    diff = ok(lineage("env", "model.train@prod", "--diff-current"))
    assert diff.startswith(f"run {good} (default/model.train) → this interpreter\n")
    assert "  package fakepkg 1.0 removed\n" in diff
    pins = ok(lineage("env", good, "--requirements")).splitlines()
    assert "fakepkg==1.0" in pins and pins[1].startswith(f"# python {sys.version.split()[0]}")


def uv() -> str:
    """uv as the Makefile finds it (make test installs it when missing)."""
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    assert Path(found).exists(), "uv is not installed: make test installs it"
    return found


def pod_run(tmp_path: Path, environment: EnvironmentSnapshot) -> str:
    """A pod's run as the orchestrator completes it, with the environment its container reported."""
    out = tmp_path / "pod-out.txt"
    out.write_text("trained")
    step = CommandStep(CommandSpec(name="pod.small", command=("train",), outputs=(str(out),)), default_store())
    plan = step.begin(step.check())
    now = time.time()
    result = CommandResult(run_id=plan.run_id, key=plan.key, job=plan.job, namespace=plan.namespace,
                           status="COMPLETED", exit_code=0, outputs={str(out): hash_uri(str(out))},
                           environment=environment.to_dict(), started_at=now, ended_at=now)
    assert complete(default_store(), plan, result)
    return plan.run_id


def venv_packages(python: Path) -> dict[str, str]:
    p = subprocess.run([uv(), "pip", "list", "--format", "json", "--python", str(python)], capture_output=True,
                       text=True, check=True, timeout=120)
    return {d["name"].lower(): d["version"] for d in json.loads(p.stdout)}


@pytest.mark.slow  # builds two venvs with uv
def test_requirements_rebuild_the_recorded_package_set_with_uv(tmp_path: Path) -> None:
    # the pod's image: a venv with two pure-python packages, its environment as the container records it
    source = tmp_path / "image-venv"
    subprocess.run([uv(), "venv", "-q", str(source)], check=True, timeout=120)
    subprocess.run([uv(), "pip", "install", "-q", "--python", str(source / "bin" / "python"), "six==1.17.0",
                    "iniconfig==2.3.1"], check=True, timeout=300)
    packages = venv_packages(source / "bin" / "python")
    assert packages == {"six": "1.17.0", "iniconfig": "2.3.1"}
    here = capture_environment()
    recorded = EnvironmentSnapshot(python=here.python, implementation=here.implementation, platform=here.platform,
                                   machine=here.machine, packages=packages,
                                   image_digest="ghcr.io/acme/train@sha256:" + "ab" * 32)
    run = pod_run(tmp_path, recorded)
    text = ok(lineage("env", run, "--requirements"))
    assert text.splitlines() == [
        f"# the environment run {run} (default/pod.small) recorded (lineage env --requirements)",
        f"# python {here.python} ({here.implementation}) on {here.platform} {here.machine}",
        f"# image ghcr.io/acme/train@sha256:{'ab' * 32}", "iniconfig==2.3.1", "six==1.17.0"]
    (tmp_path / "requirements.txt").write_text(text)
    fresh = tmp_path / "rebuilt"
    subprocess.run([uv(), "venv", "-q", str(fresh)], check=True, timeout=120)
    subprocess.run([uv(), "pip", "install", "-q", "--python", str(fresh / "bin" / "python"), "-r",
                    str(tmp_path / "requirements.txt")], check=True, timeout=300)
    assert venv_packages(fresh / "bin" / "python") == packages  # the same set, the same versions
    # and the environment command's refusals are one line each
    p = lineage("env", "--requirements")
    assert p.returncode == 2 and "need a RUN" in p.stderr
    p = lineage("env", "0000000000", "--requirements")
    assert p.returncode == 2 and "no run '0000000000'" in p.stderr
