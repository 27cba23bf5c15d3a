"""ContainerTask and CacheSpec: one description of a containerised (GPU) task for every platform, validated
when it is written, and what every platform translates from it."""

from __future__ import annotations

import pytest

from lineage_core.container import CacheSpec, ContainerTask, SecretEnv
from lineage_core.errors import ConfigError
from lineage_core.modes import CacheMode


@pytest.mark.parametrize(("fields", "message"), [
    ({"gpus": -1}, "gpus=-1 must be a whole number"),
    ({"gpus": 1.5}, "must be a whole number"),
    ({"gpus": 1, "accelerator": ""}, "accelerator must name"),
    ({"gpu_type": "A100"}, "without gpus"),
    ({"shm_size": "8 GB"}, "not a Kubernetes quantity"),
    ({"cpu": "four"}, "not a Kubernetes quantity"),
    ({"pvcs": {"claim": "relative/path"}}, "absolute mount path"),
    ({"store_secret": "s", "store_url": "postgresql://db/x"}, "give the task one store"),
    ({"server_store": True, "token_secret": "t"}, "needs lineage_server_url"),
    ({"server_store": True, "lineage_server_url": "https://l", "token_secret": "t", "artifacts_url": "s3://b"},
     "drop store_secret and artifacts_url"),
    ({"store_url": "postgresql://user:pw@db/lineage"}, "carries a password"),
])
def test_invalid_settings_are_config_errors(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ContainerTask(**fields)  # type: ignore[arg-type]


def test_what_every_platform_translates() -> None:
    task = ContainerTask(gpus=2, gpu_type="NVIDIA-H100-80GB-HBM3", shm_size="16Gi", cpu="8", memory="64Gi",
                         lineage_server_url="https://lineage:5000", token_secret="lineage-token",
                         store_secret="lineage-store:url", artifacts_url="s3://ml/lineage",
                         secret_env={"s3": {"id": "AWS_ACCESS_KEY_ID", "secret": "AWS_SECRET_ACCESS_KEY"}})
    assert task.secret_envs() == [
        SecretEnv("OPENLINEAGE_API_KEY", "lineage-token", "token"),
        SecretEnv("LINEAGE_STORE_URL", "lineage-store", "url"),
        SecretEnv("AWS_ACCESS_KEY_ID", "s3", "id"), SecretEnv("AWS_SECRET_ACCESS_KEY", "s3", "secret")]
    assert task.lineage_env() == {"OPENLINEAGE_URL": "https://lineage:5000", "LINEAGE_ARTIFACTS_URL": "s3://ml/lineage"}
    assert task.resource_class() == {"gpu_resource": "nvidia.com/gpu", "gpus": 2, "gpu_type": "NVIDIA-H100-80GB-HBM3"}
    assert task.gpu_toleration == {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert task.replace(tolerate_gpu_taint=False).gpu_toleration is None
    assert ContainerTask().resource_class() == {} and ContainerTask().gpu_toleration is None
    server = ContainerTask(server_store=True, lineage_server_url="https://lineage:5000", token_secret="t")
    assert server.lineage_env() == {"OPENLINEAGE_URL": "https://lineage:5000", "LINEAGE_STORE_URL": "https://lineage:5000"}


def test_values_are_frozen_and_do_not_share_the_callers_dicts() -> None:
    env = {"A": "1"}
    task = ContainerTask(env=env)
    env["B"] = "2"
    assert task.env == {"A": "1"}
    with pytest.raises(AttributeError):
        task.gpus = 1  # type: ignore[misc]


def test_pop_from_takes_only_its_fields() -> None:
    options = {"gpus": 1, "shm_size": "8Gi", "name": "step", "base_image": "python:3.11"}
    assert ContainerTask.pop_from(options) == ContainerTask(gpus=1, shm_size="8Gi")
    assert options == {"name": "step", "base_image": "python:3.11"}
    assert ContainerTask.pop_from(options) is None


def test_cache_spec() -> None:
    assert CacheSpec(mode="OFF", version=3) == CacheSpec(mode=CacheMode.OFF, version="3")
    with pytest.raises(ConfigError, match="is not one of"):
        CacheSpec(mode="sometimes")


def test_container_resources_add_the_gpus_and_refuse_what_the_api_server_would() -> None:
    """The checks a pod operator runs on its container's resources before submission (the API server's rules for
    an extended resource: a whole number, request = limit); tests/airflow/test_pod_operator.py shows the API
    server refusing each."""
    task = ContainerTask(gpus=2, cpu="4", memory="16Gi")
    assert task.container_resources({"cpu": "1"}, None) == ({"cpu": "1"}, {"nvidia.com/gpu": "2", "cpu": "4",
                                                                           "memory": "16Gi"})
    assert task.container_resources({"nvidia.com/gpu": "2"}, {"nvidia.com/gpu": 2})[1]["nvidia.com/gpu"] == "2"
    for requests, limits, message in [
        ({"nvidia.com/gpu": "1"}, None, "requests '1' and gpus=2"),
        (None, {"nvidia.com/gpu": "4"}, "limits '4' and gpus=2"),
    ]:
        with pytest.raises(ConfigError, match=message):
            task.container_resources(requests, limits)
    plain = ContainerTask()
    for requests, limits, message in [
        (None, {"nvidia.com/gpu": "500m"}, "fractional GPUs"),
        ({"amd.com/gpu": "1"}, {"amd.com/gpu": "2"}, "request 1 differs from limit 2"),
        ({"nvidia.com/gpu": "1"}, None, "request 1 differs from limit None"),
    ]:
        with pytest.raises(ConfigError, match=message):
            plain.container_resources(requests, limits)
    assert plain.container_resources({"cpu": "500m", "hugepages-2Mi": "1Gi"}, {"memory": "1Gi"}) == (
        {"cpu": "500m", "hugepages-2Mi": "1Gi"}, {"memory": "1Gi"})


@pytest.mark.parametrize(("fields", "message"), [
    ({"gpus": 1, "gpu_type": "NVIDIA A100"}, "not a valid node label value"),
    ({"gpus": 1, "gpu_type": "x" * 64}, "not a valid node label value"),
    ({"gpus": 1, "gpu_type": "-A100"}, "not a valid node label value"),
    ({"gpus": 1, "accelerator": "nvidia gpu"}, "not an extended resource name"),
    ({"gpus": 1, "accelerator": "gpu"}, "not an extended resource name"),
])
def test_gpu_names_the_api_server_would_refuse(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ContainerTask(**fields)  # type: ignore[arg-type]
