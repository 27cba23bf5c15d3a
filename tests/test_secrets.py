"""Secrets never land anywhere: twenty secret values, planted where secrets really turn up (the environment,
arguments under plain and secret names, nested config, DSNs, URLs, exception text, a command line), then
everything a run leaves behind is grepped — the database, the artifact store, the spool, the log, the CLI's
output, the OpenLineage events a real receiver got, and the lineage server's API answers."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import explain
from lineage_core.openlineage import emitter

from .services.lineage_receiver import Receiver
from .services.lineage_server import Server

# a receiver, a server and subprocesses; on SQLite and on PostgreSQL (whose rows are read back and grepped too)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("backend")]


def _secret(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"


S = {  # name -> value; every value is unique, so a find names where it came from
    "env_token": _secret("tokA"),
    "env_url_password": _secret("pwB/with space"),
    "env_options": _secret("optC"),
    "arg_api_key": _secret("keyD"),
    "arg_nested_password": _secret("pwE"),
    "arg_model_key": "sk-proj-" + _secret(),
    "arg_passphrase": _secret("ppF"),
    "arg_dsn_password": _secret("dsnG"),
    "arg_url_password": _secret("pw/H i"),
    "arg_url_token": "ghp_" + _secret(),
    "arg_jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + _secret(),
    "arg_aws": "AKIA" + uuid.uuid4().hex[:16].upper(),
    "arg_header": _secret("hdrI"),
    "exc_bearer": _secret("bearJ"),
    "exc_env_value": "",  # filled below: the env token quoted in an exception
    "exc_kv": _secret("kvK"),
    "argv_api_key": _secret("cliL"),
    "argv_password": _secret("cliM"),
    "argv_short": _secret("cliN"),
    "argv_env_pair": _secret("cliO"),
}
S["exc_env_value"] = S["env_token"]

STEPS = f'''
from lineage_core import cached

@cached
def train(rows: int, api_key: str, creds: dict, model: str, config: dict, dsn: str, url: str, endpoint: str,
          jwt: str, keys: tuple, headers: dict) -> int:
    return rows * 2

@cached
def login(user: str) -> int:
    raise RuntimeError("login failed for " + user + ": Authorization: Bearer {S["exc_bearer"]} "
                       "(token {S["env_token"]}) password={S["exc_kv"]}")
'''


@pytest.fixture
def fresh_emitter() -> Iterator[None]:
    saved = dict(os.environ)
    emitter.reset()
    yield
    emitter.reset()
    os.environ.clear()
    os.environ.update(saved)


def _leaks(text: str) -> list[str]:
    return sorted(name for name, value in S.items() if value and value in text)


def _files_text(root: Path) -> str:
    chunks = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            chunks.append(p.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def _database_text(url: str) -> str:
    """Every row of every table, as text (the SQLite file is grepped as bytes too; PostgreSQL's are not files here)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as c:
            return "\n".join(repr(row) for table in meta.sorted_tables for row in c.execute(sa.select(table)))
    finally:
        engine.dispose()


@pytest.mark.usefixtures("fresh_emitter")
def test_twenty_secrets_land_nowhere(make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch,
                                     lineage_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("LINEAGE_ENV_ALLOWLIST", "MY_*")
    monkeypatch.setenv("MY_API_TOKEN", S["env_token"])
    monkeypatch.setenv("MY_DB_URL", f"postgresql://app:{S['env_url_password']}@db:5432/x")
    monkeypatch.setenv("MY_STORE_OPTIONS", json.dumps({"anon": False, "k": S["env_options"]}))
    receiver = Receiver()
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    try:
        m = make_module(STEPS)
        args = dict(rows=3, api_key=S["arg_api_key"], creds={"user": "x", "password": S["arg_nested_password"]},
                    model=S["arg_model_key"], config={"db": {"passphrase": S["arg_passphrase"]}},
                    dsn=f"host=db user=app password={S['arg_dsn_password']} dbname=x",
                    url=f"https://app:{S['arg_url_password']}@host.example/x",
                    endpoint=f"https://{S['arg_url_token']}@host", jwt=S["arg_jwt"], keys=("plain", S["arg_aws"]),
                    headers={"Authorization": f"Bearer {S['arg_header']}"})
        with caplog.at_level(logging.DEBUG, logger="lineage_core"):
            assert m.train(**args) == 6
            args["rows"] = 4
            assert m.train(**args) == 8  # a miss explained against the first: displays are compared
            assert not explain(m.train).hit and "parameter 'rows' changed: 3 → 4" in explain(m.train).reasons
            assert m.train(**args) == 8 and explain(m.train).hit
            with pytest.raises(RuntimeError):
                m.login("alice")
        assert emitter.emitter().flush(timeout=60)

        out_file = tmp_path / "out.txt"
        argv = [sys.executable, "-c", f"open({str(out_file)!r}, 'w').write('ok')", "--api-key", S["argv_api_key"],
                f"--password={S['argv_password']}", "-p", S["argv_short"], f"DB_PASSWORD={S['argv_env_pair']}"]
        exec_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
        proc = subprocess.run([sys.executable, "-m", "lineage_core.cli", "exec", "--name", "cli-step", "--output",
                               str(out_file), "--", *argv], env=exec_env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        found = {"exec stderr": _leaks(proc.stdout + proc.stderr)}

        cli = [sys.executable, "-m", "lineage_core.cli"]
        runs = json.loads(subprocess.run([*cli, "runs", "--json"], env=exec_env, capture_output=True, text=True,
                                         check=True).stdout)
        assert len(runs) >= 5
        shown = [subprocess.run([*cli, "show", r["id"], "--json"], env=exec_env, capture_output=True, text=True,
                                check=True).stdout for r in runs]
        found["cli"] = _leaks("\n".join(shown) + json.dumps(runs))
        found["events"] = _leaks(json.dumps(receiver.events))
        assert any(e["eventType"] == "FAIL" for e in receiver.events)  # the exception's event was sent
        found["log"] = _leaks(caplog.text)
        stored = _files_text(lineage_home) + _database_text(os.environ["LINEAGE_STORE_URL"])
        found["store and artifacts"] = _leaks(stored)

        server = Server(exec_env)
        try:
            answers = []
            for path in ("/api/v1/namespaces/default/jobs", "/api/v1/events/lineage?limit=1000",
                         "/api/v1/search?q=train"):
                status, body = server.request("GET", path)
                assert status == 200, (path, body)
                answers.append(json.dumps(body))
            for job in json.loads(answers[0])["jobs"]:
                status, body = server.request("GET", f"/api/v1/namespaces/default/jobs/{job['name']}/runs")
                assert status == 200
                answers.append(json.dumps(body))
            for r in runs:
                if r.get("cache_key"):
                    answers.append(json.dumps(server.request("GET", f"/api/v1/cache/{r['cache_key']}")[1]))
            found["server API"] = _leaks("\n".join(answers))
        finally:
            server.stop()
        assert all(not v for v in found.values()), found
        # the redacted forms are there: the display says what was passed, without the secret
        assert "***" in json.dumps(runs) or any("***" in s for s in shown)
    finally:
        receiver.stop()
