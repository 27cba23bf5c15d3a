"""Capture and diff the environment a step ran in.

A snapshot holds what can change a result without the code changing: the interpreter, the platform,
every installed distribution, the container image digest, the GPU/CUDA stack, the git state of the
caller's repository and an allowlist of environment variables (secrets redacted). It is stored once
per content hash. Capturing is cheap (< 100 ms with hundreds of distributions): distributions are
read from ``*.dist-info`` directory names, not by opening every METADATA file.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, field
from functools import cache
from typing import Any

from .hashing.content import hash_bytes
from .installed import installed_distributions
from .records import record
from .redact import redact_value, redact_values
from .settings import Settings

DEFAULT_ENV_ALLOWLIST = (
    # our settings that say how a step ran; never URLs (they may hold credentials), tokens or *_OPTIONS
    "LINEAGE_NAMESPACE",
    "LINEAGE_CACHE",
    "LINEAGE_DISABLED",
    "LINEAGE_VERIFY",
    "LINEAGE_WAIT_TIMEOUT",
    "LINEAGE_IMAGE_DIGEST",
    "LINEAGE_ENV_ALLOWLIST",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYTHONHASHSEED",
    "TZ",
    "LANG",
    "LC_ALL",
    "HF_HUB_OFFLINE",
)


@record(frozen=False)
class EnvironmentSnapshot:
    """Where a run ran: the interpreter, platform, packages, image, GPU, git state and the allowed environment
    variables (redacted); ``content_hash`` names it in the store."""

    python: str
    implementation: str
    platform: str
    machine: str
    packages: dict[str, str]
    image_digest: str | None = None
    gpu: dict[str, Any] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    env_vars: dict[str, str] = field(default_factory=dict)

    def __init__(self, python: str, implementation: str, platform: str, machine: str, packages: dict[str, str],
                 image_digest: str | None = None, gpu: dict[str, Any] | None = None, git: dict[str, Any] | None = None,
                 env_vars: dict[str, str] | None = None) -> None:
        self.python, self.implementation, self.platform, self.machine = python, implementation, platform, machine
        self.packages, self.image_digest = packages, image_digest
        self.gpu = {} if gpu is None else gpu
        self.git = {} if git is None else git
        self.env_vars = {} if env_vars is None else env_vars

    @property
    def python_minor(self) -> str:
        return ".".join(self.python.split(".")[:2])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_data(self) -> dict[str, Any]:
        """The fields as they are, not copied (what :meth:`to_dict` deep-copies first, ~0.5 ms of a pod's first hit
        with a few hundred packages): for serialising at once, never to change."""
        return {k: v for k, v in self.__dict__.items() if k[0] != "_"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvironmentSnapshot:
        return cls(**data)

    @property
    def content_hash(self) -> str:
        """Hash of the canonical JSON; computed once (snapshots are not modified after capture)."""
        cached: str | None = self.__dict__.get("_content_hash")
        if cached is None:
            cached = hash_bytes(json.dumps(self.as_data(), sort_keys=True, separators=(",", ":")).encode())
            self.__dict__["_content_hash"] = cached
        return cached

    @property
    def packages_hash(self) -> str:
        return hash_bytes(json.dumps(sorted(self.packages.items()), separators=(",", ":")).encode())


def _image_digest() -> str | None:
    current = Settings.current()
    if current.image_digest:
        return current.image_digest
    # Kubernetes downward API: a pod may mount its own status (imageID) as a file we are told about.
    path = current.podinfo_image_file
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    m = re.search(r"sha256:[0-9a-f]{64}", text)
    return m.group(0) if m else None


def _cuda_driver_version() -> str | None:
    """CUDA version the driver supports, from libcuda itself (fast; no second nvidia-smi call)."""
    import ctypes

    try:
        lib = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return f"{version.value // 1000}.{version.value % 1000 // 10}"


@cache
def _gpu() -> tuple[tuple[str, Any], ...]:
    """GPU models, driver, compute capability and CUDA version; empty without a GPU (never required)."""
    info: dict[str, Any] = {}
    smi = shutil.which("nvidia-smi")
    if smi:
        import subprocess  # only where there is something to run

        try:
            out = subprocess.run(
                [smi, "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout
            rows = [[c.strip() for c in r.split(",")] for r in out.strip().splitlines() if r.strip()]
            if rows:
                info["gpus"] = [r[0] for r in rows]
                info["driver"] = rows[0][1] if len(rows[0]) > 1 else None
                info["compute_capability"] = rows[0][2] if len(rows[0]) > 2 else None
                info["cuda"] = _cuda_driver_version()
        except (OSError, subprocess.SubprocessError):
            pass
    torch = sys.modules.get("torch")  # only if the user already imported it: never import torch
    if torch is not None:
        info["torch_cuda"] = getattr(torch.version, "cuda", None)
        try:
            if torch.cuda.is_available():
                info.setdefault("gpus", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
        except Exception:  # noqa: BLE001 - a broken CUDA stack is information, not an error
            info.setdefault("gpus", [])
    return tuple(sorted(info.items()))


def _may_be_in_git(directory: str) -> bool:
    """False when git would find no repository here: no ``.git`` in the directory or any parent, and none named by
    the environment. A pod's or a worker's source directory is rarely a checkout: this saves a subprocess."""
    if any(k in os.environ for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR")):
        return True
    d = os.path.abspath(directory)
    while True:
        if os.path.lexists(os.path.join(d, ".git")):
            return True
        parent = os.path.dirname(d)
        if parent == d:
            return False
        d = parent


@cache
def git_state(directory: str) -> tuple[tuple[str, Any], ...]:
    """Commit and dirty flag of the repository containing ``directory`` (empty outside git, or before its first
    commit), and its ``origin`` remote (redacted). An Airflow DAG folder synced by git-sync is such a checkout, and
    each fresh task process asks once: two ``git`` processes at the same time (``status --porcelain=v2 --branch``
    says the commit, ``# branch.oid``, beside the changes; ``--no-ahead-behind``, or it walks the history between
    the branch and its upstream), not three one after the other (~9 ms a task)."""
    if not _may_be_in_git(directory):  # first: a walk up the directory's parents costs less than a PATH search
        return ()
    git = shutil.which("git")
    if not git:
        return ()
    said = _run_together([[git, "-C", directory, "status", "--porcelain=v2", "--branch", "--no-ahead-behind",
                           "--untracked-files=no"],
                          [git, "-C", directory, "config", "--get", "remote.origin.url"]], timeout=10)
    if said is None or said[0][0] != 0:
        return ()
    lines = said[0][1].splitlines()
    commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), "(initial)")
    if commit == "(initial)":  # no commit yet: nothing that names this code
        return ()
    state: dict[str, Any] = {"commit": commit, "dirty": any(not line.startswith("#") for line in lines)}
    remote = said[1][1].strip()
    if remote:
        state["remote"] = redact_value("url", remote)
    return tuple(sorted(state.items()))


def _run_together(commands: list[list[str]], timeout: float) -> list[tuple[int, str]] | None:
    """Each command's (exit status, stdout), the commands run at the same time; None if one cannot start or
    outlasts ``timeout`` (all are then killed)."""
    import subprocess  # only where there is a repository to ask about

    procs: list[subprocess.Popen[str]] = []
    try:
        for command in commands:
            procs.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, errors="replace"))
        deadline = time.monotonic() + timeout
        said = []
        for p in procs:
            out = p.communicate(timeout=max(0.0, deadline - time.monotonic()))[0]
            said.append((p.returncode, out))
        return said
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")  # what fnmatch treats as a wildcard


def _allowlist() -> list[str]:
    return [*DEFAULT_ENV_ALLOWLIST, *Settings.current().env_allowlist]


def captured_env_vars(patterns: Iterable[str] | None = None) -> dict[str, str]:
    """The allowlisted variables, through the redactor (a secret name keeps only ``***``, a secret-looking
    value is redacted); ``*_OPTIONS`` (object-store credentials) are never recorded, whatever the allowlist."""
    pats = list(patterns) if patterns is not None else _allowlist()
    env = os.environ
    names = {p for p in pats if not _is_glob(p) and p in env}  # plain names: looked up, not matched
    globs = [p for p in pats if _is_glob(p)]
    if globs:
        names.update(k for k in env if any(fnmatch.fnmatchcase(k, p) for p in globs))
    return redact_values({k: env[k] for k in sorted(names) if not k.endswith("_OPTIONS")})


def platform_triple() -> tuple[str, str, str]:
    """(Python version, ``system-release``, machine) as the ``platform`` module reports them: on CPython with
    ``os.uname`` they are its fields and the first word of ``sys.version`` (importing platform costs a hit ~2 ms)."""
    if sys.implementation.name == "cpython" and hasattr(os, "uname"):
        u = os.uname()
        return sys.version.split()[0], f"{u.sysname.lower()}-{u.release}", u.machine
    import platform

    return platform.python_version(), f"{platform.system().lower()}-{platform.release()}", platform.machine()


def capture_environment(git_dir: str | None = None) -> EnvironmentSnapshot:
    """Snapshot of the current interpreter, packages, image, GPU, git and allowlisted env vars."""
    python, system, machine = platform_triple()
    return EnvironmentSnapshot(
        python=python,
        implementation=sys.implementation.name,
        platform=system,
        machine=machine,
        packages=installed_distributions(),
        image_digest=_image_digest(),
        gpu=dict(_gpu()),
        git=dict(git_state(git_dir or os.getcwd())),
        env_vars=captured_env_vars(),
    )
