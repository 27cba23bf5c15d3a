"""Settings as a value: read from the environment once per call, made current with ``use()``, and the store
``default_store()`` opens for them — without touching ``os.environ``."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from lineage_core import cached, explain, settings
from lineage_core.errors import ConfigError
from lineage_core.modes import CacheMode
from lineage_core.runtime import close_stores, default_store
from lineage_core.settings import Settings


def test_from_env_reads_every_setting(tmp_path: Path) -> None:
    env = {
        settings.HOME_ENV: str(tmp_path), settings.STORE_URL_ENV: "postgresql+psycopg://u:pw@db/lineage",
        settings.ARTIFACTS_URL_ENV: "s3://bucket/lineage", settings.ARTIFACTS_OPTIONS_ENV: '{"anon": true}',
        settings.NAMESPACE_ENV: "team", settings.CACHE_ENV: "READ", settings.DISABLED_ENV: "yes",
        "OPENLINEAGE_API_KEY": " t0ken ", settings.WAIT_TIMEOUT_ENV: "12", settings.LEASE_TTL_ENV: "3.5",
        settings.SPOOL_MAX_BYTES_ENV: "1024", settings.IMAGE_DIGEST_ENV: "sha256:" + "a" * 64,
        settings.PODINFO_IMAGE_FILE_ENV: "/podinfo", settings.ENV_ALLOWLIST_ENV: "CUDA_*, HF_*",
        settings.EXPORT_TOKEN_ENV: "x", settings.SERVER_TOKENS_ENV: "a, b,", settings.SERVER_TOKEN_FILE_ENV: "/t",
    }
    s = Settings.from_env(env)
    assert s == Settings(
        home=tmp_path, store_url="postgresql+psycopg://u:pw@db/lineage", artifacts_url="s3://bucket/lineage",
        artifacts_options={"anon": True}, namespace="team", cache_mode=CacheMode.READ, disabled=True,
        store_token="t0ken", wait_timeout=12.0, lease_ttl=3.5, spool_max_bytes=1024,
        image_digest="sha256:" + "a" * 64, podinfo_image_file="/podinfo", env_allowlist=("CUDA_*", "HF_*"),
        export_token="x", server_tokens=("a", "b"), server_token_file="/t",
    )
    assert "pw" not in repr(s) and "t0ken" not in repr(s) and "team" in repr(s)


def test_defaults_and_resolved_urls(tmp_path: Path) -> None:
    s = Settings.from_env({"HOME": str(tmp_path)})
    assert s.home == tmp_path / ".lineage" and s.store_url is None and s.artifacts_url is None
    assert s.resolved_store_url == f"sqlite:///{tmp_path / '.lineage' / 'lineage.db'}"
    assert s.resolved_artifacts_url == (tmp_path / ".lineage" / "artifacts").as_uri()
    assert (s.namespace, s.cache_mode, s.disabled, s.wait_timeout, s.lease_ttl) == (
        "default", CacheMode.READWRITE, False, 3600.0, 30.0)
    assert not s.server_store and Settings(store_url="https://lineage.example").server_store


@pytest.mark.parametrize(("name", "value", "message"), [
    (settings.CACHE_ENV, "sometimes", "is not one of"),
    (settings.WAIT_TIMEOUT_ENV, "soon", "not a number of seconds"),
    (settings.LEASE_TTL_ENV, "0", "must be positive"),
    (settings.SPOOL_MAX_BYTES_ENV, "lots", "not a number of bytes"),
    (settings.ARTIFACTS_OPTIONS_ENV, "[1]", "must be a JSON object"),
    (settings.ARTIFACTS_OPTIONS_ENV, "{", "not valid JSON"),
])
def test_a_bad_value_is_a_config_error_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        Settings.from_env({name: value})
    assert name in str(e.value)


def test_values_are_frozen_and_validated() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.namespace = "other"  # type: ignore[misc]
    assert s.replace(cache_mode="off").cache_mode is CacheMode.OFF  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        s.replace(wait_timeout=0)
    with pytest.raises(ConfigError):
        s.replace(namespace="")


def test_module_functions_are_the_current_settings(monkeypatch: pytest.MonkeyPatch, lineage_home: Path) -> None:
    monkeypatch.setenv(settings.NAMESPACE_ENV, "from-env")
    monkeypatch.setenv(settings.CACHE_ENV, "write")
    env = Settings.current()
    fields = ("disabled", "global_cache_mode", "namespace", "lineage_home", "store_token", "store_url",
              "artifacts_url", "wait_timeout", "lease_ttl", "spool_max_bytes")

    def helpers() -> tuple[object, ...]:
        return tuple(getattr(settings, f)() for f in fields)

    expected = (env.disabled, env.cache_mode, env.namespace, env.home, env.store_token, env.resolved_store_url,
                env.resolved_artifacts_url, env.wait_timeout, env.lease_ttl, env.spool_max_bytes)
    assert helpers() == expected and env.namespace == "from-env" and env.home == lineage_home
    given = Settings(home=lineage_home / "other", namespace="given", cache_mode=CacheMode.OFF, disabled=True,
                     store_token="tk", wait_timeout=5, lease_ttl=2, spool_max_bytes=0)
    with settings.use(given):
        assert Settings.current() is given
        assert helpers() == (True, CacheMode.OFF, "given", lineage_home / "other", "tk",
                             given.resolved_store_url, given.resolved_artifacts_url, 5, 2, 0)
        assert settings.namespace("explicit") == "explicit"
        with settings.use(env):  # nested: the innermost wins
            assert settings.namespace() == "from-env"
        assert settings.namespace() == "given"
    assert helpers() == expected
    with pytest.raises(ConfigError), settings.use({"namespace": "x"}):  # type: ignore[arg-type]
        pass


def test_use_is_per_thread(lineage_home: Path) -> None:
    seen: list[str] = []
    with settings.use(Settings(home=lineage_home, namespace="main-thread")):
        t = threading.Thread(target=lambda: seen.append(settings.namespace()))
        t.start()
        t.join()
        assert settings.namespace() == "main-thread"
    assert seen == ["default"]


def test_default_store_opens_once_per_distinct_store(tmp_path: Path, lineage_home: Path) -> None:
    env_store = default_store()
    assert default_store() is env_store and default_store(Settings.current()) is env_store
    other = Settings(home=tmp_path / "other-home")
    store = default_store(other)
    assert store is not env_store and default_store(other.replace(namespace="x")) is store
    assert Path(store.home) == tmp_path / "other-home"
    with settings.use(other):
        assert default_store() is store
    close_stores()
    assert default_store() is not env_store


def test_a_cached_call_under_use_records_in_that_store_and_leaves_the_environment(tmp_path: Path) -> None:
    before = dict(os.environ)
    team = Settings(home=tmp_path / "team", namespace="team")

    def double(x: int) -> int:
        return 2 * x

    step = cached(name="settings.double")(double)
    with settings.use(team):
        assert step(21) == 42
    assert dict(os.environ) == before
    (run,) = default_store(team).runs(job="settings.double")
    assert run["status"] == "COMPLETED" and explain(step).key
    assert default_store().runs(job="settings.double") == []  # the environment's store saw nothing
    with settings.use(team):
        assert step(21) == 42
    assert explain(step).hit


def test_tokens_for_the_server_come_from_settings(tmp_path: Path) -> None:
    from lineage_core.server.auth import load_tokens

    token_file = tmp_path / "tokens"
    token_file.write_text("from-file\n\n")
    s = Settings(server_tokens=("a",), server_token_file=str(token_file))
    assert load_tokens(s) == ["a", "from-file"]
    with settings.use(s.replace(server_token_file=str(tmp_path / "missing"))), pytest.raises(ConfigError):
        load_tokens()
