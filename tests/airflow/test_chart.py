"""charts/lineage-server against the session's real Kubernetes control plane (tests/services/k8s.py) and helm 3.22.

It lives in the Airflow suite because that session already runs the one control plane of `make test` (a
second pytest session would start a second one) and its venv can run `lineage serve`; it needs no kubernetes
client: helm runs as a subprocess with the plane's kubeconfig, and the API is reached over HTTPS.

- `helm lint --strict` for every value set;
- `helm template` of the default values and of realistic value sets (AWS with existing secrets, ingress and
  autoscaling; GKE with chart-made secrets, anonymous Marquez reads and the Marquez UI; a single-replica
  evaluation with artifacts on a PVC and the chart's evaluation PostgreSQL StatefulSet), each object sent to the
  API server as a server-side dry run with strict field validation, the pod templates (StatefulSets' too) also
  as Pods in a namespace that enforces the `restricted` Pod Security Standard, and each set through
  `helm install --dry-run=server`;
- the retention CronJob behind `retention.enabled` (off by default): `lineage cache gc` then `lineage audit prune`
  with the server's store and artifacts environment, its exact arguments, refused bad values; in the install,
  a Job made from it (as `kubectl create job --from=cronjob/...` makes one) runs both steps on the release's store;
- the ServiceMonitor behind `metrics.serviceMonitor` (the Prometheus Operator's CRD, which this control plane does
  not serve, so it cannot be dry-run here): linted, rendered, and held to what it names — the server's Service and
  port, the scrape token's Secret (a read token) — with every other object dry-run; off by default;
- `helm install` into a namespace: the pre-install Job runs `lineage doctor --migrate`, the controller-manager
  makes the ReplicaSet and the pod, the mini kubelet runs the pod's command — the real `lineage serve` of this
  venv, on the chart's port on loopback — and an event ingested with the chart's token is read back; `helm
  upgrade` runs the migration Job again; `helm uninstall` leaves nothing of the release.

The mini kubelet runs commands on the host and mounts no volumes, so the values point ``command`` at this
venv's ``lineage`` and ``auth.mountPath`` at a temp dir holding the token file the chart's Secret renders (the
test checks the Secret holds exactly that file), as a kubelet's secret volume would.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..services.k8s import GPU_NODE, GPU_TAINT, ControlPlane
from ..services.lineage_server import request
from ..services.postgres import free_port
from .conftest import ROOT, wait_for

CHART = ROOT / "charts" / "lineage-server"
TOKENS = [
    {"name": "airflow", "token": "airflow-" + "a" * 24, "scopes": ["ingest", "cache", "read"], "namespaces": ["ml-*"]},
    {"name": "admin", "token": "admin-" + "b" * 24, "scopes": ["read", "ingest", "cache", "admin"]},
]
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "aws": {
        "replicaCount": 3,
        "image": {"repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/lineage-server",
                  "digest": "sha256:" + "ab" * 32},
        "store": {"existingSecret": "lineage-postgres", "key": "url"},
        "artifacts": {"url": "s3://ml-lineage/artifacts", "options": {"client_kwargs": {"region_name": "eu-west-1"}}},
        "auth": {"existingSecret": "lineage-tokens"},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/lineage"}},
        "server": {"extraEnv": [{"name": "AWS_REGION", "value": "eu-west-1"}]},
        "ingress": {"enabled": True, "className": "nginx",
                    "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                    "hosts": [{"host": "lineage.ml.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
                    "tls": [{"secretName": "lineage-tls", "hosts": ["lineage.ml.example.com"]}]},
        "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 10},
        "networkPolicy": {"from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "airflow"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kubeflow"}}}]},
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "retention": {"enabled": True, "schedule": "30 2 * * 0", "timeZone": "Europe/Dublin",
                      "gc": {"olderThan": "90d", "keepLast": 10, "grace": "2h"}, "audit": {"olderThan": "365d"},
                      "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}},
    },
    "gke": {
        "store": {"existingSecret": "", "url": "postgresql+psycopg://lineage:pw@10.1.2.3:5432/lineage"},
        "artifacts": {"url": "gs://ml-lineage/artifacts"},
        "auth": {"existingSecret": "", "tokens": TOKENS},
        "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": "lineage@proj.iam.gserviceaccount.com"}},
        "server": {"anonymousRead": "lineage"},
        "marquez": {"enabled": True},
        "networkPolicy": {"from": [{"namespaceSelector": {"matchLabels": {"team": "ml"}}}]},
        "podDisruptionBudget": {"minAvailable": "50%"},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "lineage-server"}}}],
    },
    "evaluation": {
        "replicaCount": 1,
        "postgresql": {"enabled": True, "password": "evaluation-only", "storage": "2Gi"},
        "artifacts": {"url": "file:///var/lib/lineage/artifacts",
                      "persistence": {"enabled": True, "existingClaim": "lineage-artifacts"}},
        "auth": {"existingSecret": "", "tokens": TOKENS[1:]},
        "podDisruptionBudget": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "serviceAccount": {"create": False},
        "retention": {"enabled": True, "schedule": "@daily", "gc": {"olderThan": "14d"}, "audit": {"olderThan": ""}},
    },
}


@pytest.fixture(scope="module")
def helm(k8s: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("helm")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "KUBECONFIG": k8s.kubeconfig,
           **{f"HELM_{d}_HOME": str(home / d.lower()) for d in ("CACHE", "CONFIG", "DATA")}}

    def run(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([k8s.helm, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and r.returncode != 0:
            output = f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            raise AssertionError(f"helm {' '.join(args)} exited {r.returncode}:\n{output}")
        return r

    return run


def values_file(tmp_path: Path, name: str, values: dict[str, Any]) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(values))  # JSON is YAML
    return str(path)


def collection(obj: dict[str, Any], namespace: str) -> str:
    """The API path of an object's collection (the chart's kinds: namespaced, plural by English rules)."""
    kind = obj["kind"].lower()
    plural = kind[:-1] + "ies" if kind.endswith("y") else kind + "es" if kind.endswith("s") else kind + "s"
    group = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    return f"{group}/namespaces/{namespace}/{plural}"


def dry_run(k8s: ControlPlane, namespace: str, obj: dict[str, Any]) -> None:
    status, answer = k8s.api("POST", collection(obj, namespace), obj, query="dryRun=All&fieldValidation=Strict")
    assert status in (200, 201), f"{obj['kind']} {obj['metadata']['name']}: {status} {answer}"


@pytest.mark.parametrize("name", VALUE_SETS)
def test_each_value_set_lints_and_is_accepted_by_the_api_server(name: str, helm: Any, k8s: ControlPlane,
                                                                k8s_namespace: str, tmp_path: Path) -> None:
    values = values_file(tmp_path, name, VALUE_SETS[name])
    helm("lint", "--strict", str(CHART), "-f", values)
    rendered = [d for d in yaml.safe_load_all(helm("template", "rel", str(CHART), "-n", k8s_namespace, "-f", values)
                                              .stdout) if d]
    kinds = sorted(d["kind"] for d in rendered)
    assert {"ConfigMap", "Deployment", "Job", "Service"} <= set(kinds), kinds
    # the pod templates as Pods in a namespace that enforces the restricted Pod Security Standard
    k8s.ok("PATCH", f"/api/v1/namespaces/{k8s_namespace}",
           {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
           content_type="application/merge-patch+json")
    for obj in rendered:
        dry_run(k8s, k8s_namespace, obj)
        if obj["kind"] == "ServiceAccount":  # a pod is admitted only when its ServiceAccount exists: make it
            k8s.ok("POST", collection(obj, k8s_namespace), obj)
    for obj in rendered:
        if obj["kind"] in ("Deployment", "Job", "StatefulSet", "CronJob"):
            template = (obj["spec"]["jobTemplate"] if obj["kind"] == "CronJob" else obj)["spec"]["template"]
            metadata = {"name": f"{obj['metadata']['name']}-pod", **template["metadata"]}
            spec = dict(template["spec"])  # a StatefulSet's controller adds its claims as volumes
            spec["volumes"] = [*spec.get("volumes", []), *({"name": c["metadata"]["name"], "persistentVolumeClaim": {
                "claimName": f"{c['metadata']['name']}-{obj['metadata']['name']}-0"}}
                for c in obj["spec"].get("volumeClaimTemplates", []))]
            dry_run(k8s, k8s_namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
    (deployment,) = [d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == "rel-lineage-server"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    (job,) = [d for d in rendered if d["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["doctor", "--migrate"]
    evaluation_db = VALUE_SETS[name].get("postgresql", {}).get("enabled")  # a release object: migrate after install
    assert job["metadata"]["annotations"]["helm.sh/hook"] == (
        "post-install,pre-upgrade" if evaluation_db else "pre-install,pre-upgrade")
    assert ("StatefulSet" in kinds) == bool(evaluation_db)
    assert ("CronJob" in kinds) == bool(VALUE_SETS[name].get("retention", {}).get("enabled"))
    notes = helm("install", "dry", str(CHART), "-n", k8s_namespace, "-f", values, "--dry-run=server").stdout
    assert f"http://dry-lineage-server.{k8s_namespace}.svc:5000" in notes  # NOTES.txt: where Airflow and KFP point
    assert ("svc/dry-lineage-server-marquez" in notes) == bool(VALUE_SETS[name].get("marquez"))
    assert ("create job --from=cronjob/dry-lineage-server-retention" in notes) == ("CronJob" in kinds)


def test_invalid_values_are_refused_by_the_schema_and_the_chart(helm: Any, tmp_path: Path) -> None:
    for values, message in [
        ({"auth": {"existingSecret": "", "tokens": [{"name": "x", "token": "short", "scopes": ["read"]}]}},
         "minLength"),
        ({"auth": {"existingSecret": "", "tokens": [{"name": "x", "token": "x" * 20, "scopes": ["write"]}]}},
         "scopes"),
        ({"artifacts": {"url": "/data/artifacts"}}, "artifacts/url"),
        ({"store": {"existingSecret": "", "url": ""}}, "give store.existingSecret"),
        ({"auth": {"existingSecret": "", "tokens": []}}, "needs tokens"),
        ({"marquez": {"enabled": True}}, "the Marquez UI sends no token"),
        ({"postgresql": {"enabled": True}}, "give postgresql.password"),
        ({"retention": {"enabled": True, "schedule": 3}}, "at '/retention/schedule': got number, want string"),
        ({"retention": {"enabled": True, "schedule": "daily"}}, "at '/retention/schedule'"),
        ({"retention": {"enabled": True, "gc": {"keepLast": -1}}}, "at '/retention/gc/keepLast': minimum"),
        ({"retention": {"enabled": True, "gc": {"olderThan": "30 days"}}}, "at '/retention/gc/olderThan'"),
        ({"retention": {"enabled": True, "prune": {"olderThan": "90d"}}}, "additional properties 'prune'"),
        ({"retention": {"enabled": True, "concurrencyPolicy": "Allow"}}, "at '/retention/concurrencyPolicy'"),
    ]:
        r = helm("template", "rel", str(CHART), "-f", values_file(tmp_path, "bad", values), check=False)
        assert r.returncode != 0 and message in r.stderr, (values, r.stderr)


def retention_pod(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    (cron,) = [d for d in rendered if d["kind"] == "CronJob"]
    return dict(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def test_the_retention_cronjob_runs_gc_then_audit_prune_with_the_servers_store_and_artifacts(
        helm: Any, tmp_path: Path) -> None:
    assert "CronJob" not in helm("template", "rel", str(CHART)).stdout  # off by default
    for name, init, main in [
        ("aws", [["cache", "gc", "--older-than", "90d", "--keep-last", "10", "--grace", "2h"]],
         [["audit", "prune", "--older-than", "365d"]]),
        ("evaluation", [], [["cache", "gc", "--older-than", "14d", "--grace", "1h"]]),  # no audit retention
    ]:
        values = values_file(tmp_path, name, VALUE_SETS[name])
        rendered = [d for d in yaml.safe_load_all(helm("template", "rel", str(CHART), "-f", values).stdout) if d]
        (cron,) = [d for d in rendered if d["kind"] == "CronJob"]
        retention = VALUE_SETS[name]["retention"]
        assert cron["metadata"]["name"] == "rel-lineage-server-retention"
        assert cron["spec"]["schedule"] == retention["schedule"]
        assert cron["spec"].get("timeZone") == retention.get("timeZone")
        assert (cron["spec"]["concurrencyPolicy"], cron["spec"]["startingDeadlineSeconds"]) == ("Forbid", 3600)
        assert (cron["spec"]["successfulJobsHistoryLimit"], cron["spec"]["failedJobsHistoryLimit"]) == (3, 3)
        pod = retention_pod(rendered)
        containers = [*pod.get("initContainers", []), *pod["containers"]]
        assert [c["args"] for c in pod.get("initContainers", [])] == init, name
        assert [c["args"] for c in pod["containers"]] == main, name
        (deployment,) = [d for d in rendered
                         if d["kind"] == "Deployment" and d["metadata"]["name"] == "rel-lineage-server"]
        server_pod = deployment["spec"]["template"]["spec"]
        server = server_pod["containers"][0]
        for c in containers:
            assert (c["image"], c["command"]) == (server["image"], server["command"])
            # the server's store and artifacts environment (gc deletes blobs), not its token file or read mode
            assert c["env"] == [*(e for e in server["env"] if not e["name"].startswith("LINEAGE_SERVER_")),
                                {"name": "LOGNAME", "value": "rel-lineage-server-retention"}], c["env"]
            assert c.get("envFrom") == server.get("envFrom")
            assert c["securityContext"] == server["securityContext"]
            assert c["resources"] == retention.get("resources", {})
            assert [m for m in c["volumeMounts"] if m["name"] != "tokens"] == [
                m for m in server["volumeMounts"] if m["name"] != "tokens"]
        assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
        for key in ("serviceAccountName", "securityContext", "tolerations", "nodeSelector", "imagePullSecrets"):
            assert pod.get(key) == server_pod.get(key), key
        assert [v for v in pod["volumes"] if v["name"] != "tmp"] == [
            v for v in server_pod["volumes"] if v["name"] not in ("tmp", "tokens")]
        names = {e["name"] for e in containers[0]["env"]}
        assert ("LINEAGE_ARTIFACTS_OPTIONS" in names) == bool(VALUE_SETS[name]["artifacts"].get("options"))


PROMETHEUS = {"name": "prometheus", "token": "prometheus-" + "c" * 24, "scopes": ["read"]}
# The ServiceMonitor fields the chart may set (monitoring.coreos.com/v1, prometheus-operator's CRD schema).
MONITOR_SPEC = {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels",
                "sampleLimit"}
MONITOR_ENDPOINT = {"port", "path", "scheme", "interval", "scrapeTimeout", "authorization", "honorLabels",
                    "relabelings", "metricRelabelings", "tlsConfig"}


def test_a_service_monitor_behind_its_value_scrapes_the_server_with_a_read_token(
        helm: Any, k8s: ControlPlane, k8s_namespace: str, tmp_path: Path) -> None:
    assert "ServiceMonitor" not in helm("template", "rel", str(CHART)).stdout  # off by default
    values = values_file(tmp_path, "monitored", {
        **VALUE_SETS["gke"], "auth": {"existingSecret": "", "tokens": [*TOKENS, PROMETHEUS]},
        "metrics": {"serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "kps"},
                                       "tokenName": "prometheus"}}})
    helm("lint", "--strict", str(CHART), "-f", values)
    rendered = [d for d in yaml.safe_load_all(helm("template", "rel", str(CHART), "-n", k8s_namespace, "-f", values)
                                              .stdout) if d]
    (monitor,) = [d for d in rendered if d["kind"] == "ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["labels"]["release"] == "kps"
    spec = monitor["spec"]
    assert set(spec) <= MONITOR_SPEC and all(set(e) <= MONITOR_ENDPOINT for e in spec["endpoints"]), spec
    assert spec["namespaceSelector"] == {"matchNames": [k8s_namespace]}
    # it selects the server's Service, not the Marquez UI's, and scrapes a port that Service has
    services = [d for d in rendered if d["kind"] == "Service"]
    assert len(services) == 2
    chosen = [d for d in services if spec["selector"]["matchLabels"].items() <= d["metadata"]["labels"].items()]
    assert [d["metadata"]["name"] for d in chosen] == ["rel-lineage-server"]
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in [p["name"] for p in chosen[0]["spec"]["ports"]]
    assert (endpoint["path"], endpoint["interval"], endpoint["authorization"]["type"]) == ("/metrics", "15s", "Bearer")
    # the bearer token it sends is the chart's read token, in a Secret the chart renders
    credentials = endpoint["authorization"]["credentials"]
    (secret,) = [d for d in rendered if d["kind"] == "Secret" and d["metadata"]["name"] == credentials["name"]]
    assert secret["stringData"][credentials["key"]] == PROMETHEUS["token"]
    for obj in rendered:  # everything else, the API server judges
        if obj["kind"] != "ServiceMonitor":
            dry_run(k8s, k8s_namespace, obj)
    # a scrape that the server would refuse is refused here
    for monitor_values, message in [
        ({}, "/metrics needs a read token"),
        ({"tokenName": "airflow"}, "needs the read scope and no namespaces"),
        ({"tokenName": "nobody"}, "no token nobody in auth.tokens"),
        ({"tokenSecret": {"name": "prom-token", "key": ""}}, "give its key too"),
        ({"interval": "often"}, "interval"),
    ]:
        bad = {**VALUE_SETS["gke"], "server": {}, "marquez": {"enabled": False},
               "metrics": {"serviceMonitor": {"enabled": True, **monitor_values}}}
        r = helm("template", "rel", str(CHART), "-f", values_file(tmp_path, "bad", bad), check=False)
        assert r.returncode != 0 and message in r.stderr, (monitor_values, r.stderr)
    existing = {**VALUE_SETS["aws"], "metrics": {"serviceMonitor": {"enabled": True,
                                                                   "tokenSecret": {"name": "prom", "key": "t"}}}}
    out = helm("template", "rel", str(CHART), "-f", values_file(tmp_path, "existing", existing)).stdout
    (monitor,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["authorization"]["credentials"] == {"name": "prom", "key": "t"}


def token_file(tokens: list[dict[str, Any]]) -> str:
    """What the chart's token Secret renders (lineage_core/server/auth.py's NAME:TOKEN:scopes[:globs])."""
    lines = [":".join([t["name"], t["token"], ",".join(t["scopes"]),
                       *([",".join(t["namespaces"])] if t.get("namespaces") else [])]) for t in tokens]
    return "\n".join(lines) + "\n"


def http(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    return request(port, method, path, None if body is None else json.dumps(body).encode(),
                   {"Authorization": f"Bearer {token}"} if token else None)


def ready(port: int) -> bool:
    try:
        return http(port, "GET", "/readyz")[0] == 200
    except OSError:  # not listening yet
        return False


def release_objects(k8s: ControlPlane, namespace: str) -> dict[str, list[str]]:
    """Every object of release "rel" left in the namespace, by kind (helm's release records included)."""
    selector = "labelSelector=app.kubernetes.io%2Finstance%3Drel"
    found: dict[str, list[str]] = {}
    for path in ("/api/v1/{}/pods", "/api/v1/{}/services", "/api/v1/{}/configmaps", "/api/v1/{}/serviceaccounts",
                 "/apis/apps/v1/{}/deployments", "/apis/apps/v1/{}/replicasets", "/apis/batch/v1/{}/jobs",
                 "/apis/batch/v1/{}/cronjobs",
                 "/apis/policy/v1/{}/poddisruptionbudgets", "/apis/networking.k8s.io/v1/{}/networkpolicies"):
        names = [o["metadata"]["name"] for o in k8s.items(path.format(f"namespaces/{namespace}"), selector)]
        if names:
            found[path.rsplit("/", 1)[1]] = names
    secrets = [s["metadata"]["name"] for s in k8s.items(f"/api/v1/namespaces/{namespace}/secrets")]
    if secrets:
        found["secrets"] = secrets
    return found


STEP = """
from lineage_core import cached


@cached(name="retention.step")
def step(n: int) -> list[int]:
    return list(range(n))


step(1000)
"""


def retention_runs_on_the_release_store(k8s: ControlPlane, ns: str, tmp_path: Path, port: int) -> None:
    """A Job made from the release's CronJob (what `kubectl create job --from=cronjob/...` makes) runs gc, then
    the audit prune, through the mini kubelet on the store and artifacts of the install's values: an invalidated
    entry goes, with its blob (grace 0s), and both writes are audit rows under the CronJob's name."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "LINEAGE_HOME": str(tmp_path / "home"), "LINEAGE_STORE_URL": f"sqlite:///{tmp_path / 'server.db'}",
           "LINEAGE_ARTIFACTS_URL": (tmp_path / "artifacts").as_uri()}
    (tmp_path / "step.py").write_text(STEP)
    subprocess.run([sys.executable, str(tmp_path / "step.py")], env=env, check=True, timeout=120)
    lineage = str(Path(sys.executable).parent / "lineage")
    subprocess.run([lineage, "cache", "invalidate", "--job", "retention.step"], env=env, check=True, timeout=60)
    blobs = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert blobs, "the cached step stored no blob"

    cron = k8s.ok("GET", f"/apis/batch/v1/namespaces/{ns}/cronjobs/rel-lineage-server-retention")
    template = cron["spec"]["jobTemplate"]
    name = "rel-lineage-server-retention-manual"
    k8s.ok("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", {
        "apiVersion": "batch/v1", "kind": "Job", "spec": template["spec"],
        "metadata": {"name": name, "labels": template["metadata"]["labels"],
                     "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cron["metadata"]["name"],
                                          "uid": cron["metadata"]["uid"], "controller": True}]}})

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = k8s.ok("GET", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}").get("status", {})
        return status if status.get("succeeded") or status.get("failed") else None

    status = wait_for(finished, timeout=180, what="the retention Job")
    logs = {c: "".join(p.read_text() for p in (k8s.home / "kubelet" / "logs").glob(f"{ns}_{name}-*_{c}.log"))
            for c in ("gc", "audit-prune")}
    assert status.get("succeeded") == 1, (status, logs)
    assert "removed: 1 entries" in logs["gc"] and " 0 blobs" not in logs["gc"], logs
    assert "pruned 0 audit row(s) older than 365d" in logs["audit-prune"], logs
    assert not [p for p in blobs if p.exists()], "gc left the invalidated entry's blob"
    status_code, audit = http(port, "GET", "/api/v1/audit?token=cli:rel-lineage-server-retention",
                              token=str(TOKENS[1]["token"]))
    assert status_code == 200, audit
    assert sorted((r["action"], r["status"]) for r in audit["audit"]) == [("gc", 200), ("prune_audit", 200)], audit


def test_install_serves_lineage_upgrade_migrates_again_uninstall_leaves_nothing(
        helm: Any, k8s: ControlPlane, k8s_namespace: str, tmp_path: Path) -> None:
    ns, port = k8s_namespace, free_port()
    tokens_dir = tmp_path / "tokens"
    tokens_dir.mkdir()
    (tokens_dir / "tokens").write_text(token_file(TOKENS))
    values = values_file(tmp_path, "install", {
        "replicaCount": 1,  # every pod listens on 127.0.0.1 here: one replica per port
        "command": [str(Path(sys.executable).parent / "lineage")],
        "server": {"port": port},
        "store": {"existingSecret": "", "url": f"sqlite:///{tmp_path / 'server.db'}"},
        "artifacts": {"url": (tmp_path / "artifacts").as_uri()},
        "auth": {"existingSecret": "", "tokens": TOKENS, "mountPath": str(tokens_dir)},
        "tolerations": [GPU_TAINT],  # the test cluster's one node is a tainted GPU node
        "retention": {"enabled": True, "gc": {"olderThan": "30d", "grace": "0s"}, "audit": {"olderThan": "365d"}},
    })
    migrations = k8s.home / "kubelet" / "logs"

    def migration_logs() -> list[str]:
        return [p.read_text() for p in sorted(migrations.glob(f"{ns}_rel-lineage-server-migrate-*_migrate.log"))]

    start = time.monotonic()
    helm("install", "rel", str(CHART), "-n", ns, "-f", values, "--wait", "--timeout", "180s")
    installed_in = time.monotonic() - start
    (log,) = migration_logs()  # the pre-install Job ran `lineage doctor --migrate` (and was deleted on success)
    assert "migrations current" in log and "writable" in log, log
    (rs,) = k8s.items(f"/apis/apps/v1/namespaces/{ns}/replicasets", "labelSelector=app.kubernetes.io%2Finstance%3Drel")
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"  # made by the controller-manager
    (pod,) = k8s.items(f"/api/v1/namespaces/{ns}/pods", "labelSelector=app.kubernetes.io%2Finstance%3Drel")
    assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"] == GPU_NODE
    secret = k8s.ok("GET", f"/api/v1/namespaces/{ns}/secrets/rel-lineage-server-tokens")
    assert base64.b64decode(secret["data"]["tokens"]).decode() == (tokens_dir / "tokens").read_text()

    wait_for(lambda: ready(port), what="the served /readyz")  # the kubelet has no probes: Ready once started
    event = {"eventType": "COMPLETE", "eventTime": "2026-12-01T10:00:00Z", "run": {"runId": str(uuid.uuid4())},
             "job": {"namespace": "ml-team", "name": "train.model"}, "inputs": [],
             "outputs": [{"namespace": "s3://lake", "name": "models/clf.pkl"}],
             "producer": "https://github.com/lineage-core/tests", "schemaURL":
             "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}
    assert http(port, "POST", "/api/v1/lineage", event)[0] == 401  # exposed: a token is needed
    assert http(port, "POST", "/api/v1/lineage", event, TOKENS[0]["token"])[0] == 201
    status, job = http(port, "GET", "/api/v1/namespaces/ml-team/jobs/train.model", token=TOKENS[0]["token"])
    assert status == 200 and job["name"] == "train.model", job
    assert [o["name"] for o in job["outputs"]] == ["models/clf.pkl"], job

    retention_runs_on_the_release_store(k8s, ns, tmp_path, port)

    # an upgrade that leaves the pod template alone (a second pod could not take the same loopback port)
    helm("upgrade", "rel", str(CHART), "-n", ns, "-f", values, "--set", "podDisruptionBudget.minAvailable=0",
         "--wait", "--timeout", "180s")
    assert len(migration_logs()) == 2 and "migrations current" in migration_logs()[1]
    status, runs = http(port, "GET", "/api/v1/namespaces/ml-team/jobs/train.model/runs", token=TOKENS[1]["token"])
    assert status == 200 and [r["id"] for r in runs["runs"]] == [event["run"]["runId"]], runs

    helm("uninstall", "rel", "-n", ns, "--wait", "--timeout", "120s")
    wait_for(lambda: not release_objects(k8s, ns), timeout=60, what=f"nothing left: {release_objects(k8s, ns)}")
    with pytest.raises(OSError):
        http(port, "GET", "/healthz")  # the server's process is gone
    print(f"\nhelm install (migration Job + Deployment ready) took {installed_in:.1f} s", file=sys.stderr)
