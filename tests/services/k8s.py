"""A real Kubernetes control plane for the test session: ../shared/k8s/control-plane.sh (etcd, kube-apiserver,
kube-scheduler, kube-controller-manager, on loopback with TLS and RBAC) and its mini kubelet, which runs each
bound pod's container command as a local process on a GPU node (``nvidia.com/gpu: 8``, label
``nvidia.com/gpu.present=true``, taint ``nvidia.com/gpu=present:NoSchedule``).

The binaries are unpacked once under ``~/.cache/lineage-k8s-<hash>`` (``make services-k8s`` does it ahead of
the suite); the state (PKI, etcd data, logs) lives in the caller's temp dir and is removed by :meth:`down`.
The kubelet's processes get the ``PATH`` given to :meth:`up`: a pod whose command is ``lineage …`` or
``python …`` runs the test venv's. Stdlib only (``urllib`` with the admin client certificate), so any venv
can use it; the ``kubernetes`` client reads :attr:`kubeconfig`.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT_ENV = "LINEAGE_K8S_DIR"  # where control-plane.sh is (default ../shared/k8s beside the repository)
GPU_NODE = "lineage-node"
GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def script_dir() -> Path:
    return Path(os.environ.get(SCRIPT_ENV) or ROOT.parent / "shared" / "k8s")


class ControlPlaneError(RuntimeError):
    pass


class ControlPlane:
    def __init__(self, home: Path, path: str | None = None, images: dict[str, Path] | None = None,
                 node_labels: dict[str, str] | None = None) -> None:
        """``home``: the state dir (K8S_HOME). ``path``: the PATH the kubelet's pods get (default ours).
        ``images``: image -> the directory that stands for its filesystem (a container's working dir).
        ``node_labels``: more labels on the GPU node (e.g. the GPU product label a node selector names)."""
        self.script = script_dir() / "control-plane.sh"
        if not self.script.exists():
            raise ControlPlaneError(f"no {self.script}: the test control plane lives in ../shared/k8s "
                                    f"(or set {SCRIPT_ENV})")
        self.home = home
        kubelet = [f"--image={image}={where}" for image, where in (images or {}).items()]
        kubelet += [f"--label={k}={v}" for k, v in (node_labels or {}).items()]
        if any(" " in arg for arg in kubelet):
            raise ControlPlaneError(f"kubelet arguments cannot hold spaces: {kubelet}")
        self._env = {**os.environ, "K8S_HOME": str(home), "PATH": path or os.environ["PATH"],
                     "K8S_KUBELET_ARGS": " ".join(kubelet)}
        self.info: dict[str, str] = {}
        self.started_in = 0.0

    def _run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(self.script), command], env=self._env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def up(self) -> ControlPlane:
        start = time.monotonic()
        r = self._run("up", 300)
        if r.returncode != 0:
            raise ControlPlaneError(f"control-plane.sh up exited {r.returncode}:\n{r.stderr[-4000:]}")
        self.started_in = time.monotonic() - start
        out = self._run("env", 30).stdout
        self.info = dict(line.split("=", 1) for line in out.split() if "=" in line)
        pki = Path(self.info["K8S_PKI"])
        self._ssl = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self._ssl.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return self

    def down(self) -> None:
        self._run("down", 120)

    @property
    def kubeconfig(self) -> str:
        return self.info["KUBECONFIG"]

    @property
    def server(self) -> str:
        return self.info["K8S_SERVER"]

    @property
    def helm(self) -> str:
        return str(Path(self.info["K8S_BIN"]) / "helm")

    # -- the API, as an admin -------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
            query: str = "") -> tuple[int, Any]:
        """One request to the API server: (status, decoded JSON body or text)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.server}{path}{'?' + query if query else ''}", data=data,
                                     method=method, headers={"Content-Type": content_type,
                                                             "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=30) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, answer = self.api(method, path, body, **kw)
        if status >= 300:
            raise AssertionError(f"{method} {path}: {status} {answer}")
        return answer

    def items(self, path: str, query: str = "") -> list[dict[str, Any]]:
        return list(self.ok("GET", path, query=query)["items"])

    def new_namespace(self, prefix: str = "t") -> str:
        """A fresh namespace, returned once its ``default`` ServiceAccount exists (pods are refused before)."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.ok("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.api("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")[0] == 200:
                return name
            time.sleep(0.1)
        raise ControlPlaneError(f"namespace {name}: the controller-manager made no default ServiceAccount in 30 s")

    def delete_namespace(self, name: str) -> None:
        """Asks; does not wait (the namespace controller deletes its pods gracefully, in seconds)."""
        self.api("DELETE", f"/api/v1/namespaces/{name}")
