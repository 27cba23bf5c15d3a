"""A minimal Kubernetes API on 127.0.0.1 (stdlib only): the one seam for a cluster we cannot have here.

It serves what the real kubernetes client of KubernetesPodOperator calls — list/create/get/patch/delete
pods, their log, events — and a tiny "kubelet": a created pod's base container runs as a local process,
with the pod's env (``valueFrom`` secrets resolved from the fake's own secrets) and the working directory
that stands for the image's filesystem. Its exit code becomes the pod's phase and its output the log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

_POD = re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?(/log)?$")
_EVENTS = re.compile(r"^/api/v1/namespaces/([^/]+)/events$")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (s.strip() for s in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k) != v.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class FakeKube:
    """``images``: image -> local directory standing for its filesystem (the container's working dir).
    ``secrets``: secret name -> {key: value}, for env ``valueFrom.secretKeyRef``."""

    def __init__(self, home: Path, images: dict[str, Path], secrets: dict[str, dict[str, str]]) -> None:
        self.images, self.secrets = images, secrets
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.created: list[dict[str, Any]] = []  # every pod ever created, as the client sent it
        self._done: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any, text: bool = False) -> None:
                data = body.encode() if text else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain" if text else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")

            def _route(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if method == "GET" and _EVENTS.match(url.path):
                    return self._send(200, {"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": []})
                m = _POD.match(url.path)
                if not m:
                    return self._send(404, {"kind": "Status", "status": "Failure", "code": 404, "reason": "NotFound"})
                ns, name, log = m.groups()
                code, body, text = fake.handle(method, ns, name, bool(log), query, self._body() if method in (
                    "POST", "PATCH") else None)
                self._send(code, body, text)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_PATCH(self) -> None:
                self._route("PATCH")

            def do_DELETE(self) -> None:
                self._route("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.kubeconfig = home / "kubeconfig"
        self.kubeconfig.write_text(json.dumps({  # JSON is YAML
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "fake", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "default"}}],
        }))

    def stop(self) -> None:
        self.server.shutdown()

    # -- the API -----------------------------------------------------------------------------------
    def handle(self, method: str, ns: str, name: str | None, log: bool, query: dict[str, str],
               body: Any) -> tuple[int, Any, bool]:
        with self._lock:
            if name is None and method == "GET":
                items = [p for (n, _), p in self.pods.items() if n == ns
                         and _matches(p["metadata"].get("labels") or {}, query.get("labelSelector", ""))]
                return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}, False
            if name is None and method == "POST":
                return 201, self._create(ns, body), False
            pod = self.pods.get((ns, name or ""))
        if pod is None:
            return 404, {"kind": "Status", "status": "Failure", "code": 404, "reason": "NotFound"}, False
        if log:
            self._done[(ns, pod["metadata"]["name"])].wait(60)
            stamp = "2026-01-01T00:00:00.000000000Z "
            lines = self.logs.get((ns, pod["metadata"]["name"]), "").splitlines()
            return 200, "".join(f"{stamp}{line}\n" for line in lines), True
        if method == "PATCH":
            pod["metadata"].setdefault("labels", {}).update((body.get("metadata") or {}).get("labels") or {})
        if method == "DELETE":
            with self._lock:
                self.pods.pop((ns, pod["metadata"]["name"]), None)
        return 200, pod, False

    def _create(self, ns: str, pod: dict[str, Any]) -> dict[str, Any]:
        self.created.append(json.loads(json.dumps(pod)))
        meta = pod["metadata"]
        meta.update(namespace=ns, uid=str(uuid.uuid4()), resourceVersion="1", creationTimestamp=_now())
        pod["status"] = {"phase": "Pending"}
        key = (ns, meta["name"])
        self.pods[key] = pod
        self._done[key] = threading.Event()
        threading.Thread(target=self._kubelet, args=(key, pod), daemon=True).start()
        return pod

    # -- the "kubelet" -----------------------------------------------------------------------------
    def _env(self, container: dict[str, Any]) -> dict[str, str]:
        env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"),
               "PYTHONDONTWRITEBYTECODE": "1"}
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = var["value"]
            elif ref := (var.get("valueFrom") or {}).get("secretKeyRef"):
                env[var["name"]] = self.secrets[ref["name"]][ref["key"]]
        return env

    def _kubelet(self, key: tuple[str, str], pod: dict[str, Any]) -> None:
        base = next(c for c in pod["spec"]["containers"] if c["name"] == "base")
        started = _now()
        pod["status"] = {"phase": "Running", "startTime": started, "containerStatuses": [self._status(
            base, {"running": {"startedAt": started}})]}
        proc = subprocess.run([*base.get("command", []), *base.get("args", [])], cwd=self.images[base["image"]],
                              env=self._env(base), capture_output=True, text=True, timeout=300)
        self.logs[key] = proc.stdout + proc.stderr
        terminated = {"exitCode": proc.returncode, "reason": "Completed" if proc.returncode == 0 else "Error",
                      "startedAt": started, "finishedAt": _now()}
        pod["status"] = {"phase": "Succeeded" if proc.returncode == 0 else "Failed", "startTime": started,
                         "containerStatuses": [self._status(base, {"terminated": terminated})]}
        self._done[key].set()

    @staticmethod
    def _status(container: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        return {"name": container["name"], "image": container["image"], "imageID": container["image"],
                "ready": "running" in state, "restartCount": 0, "state": state}
