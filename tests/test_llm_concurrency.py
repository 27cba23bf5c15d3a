"""Single-flight for LLM calls: 8 workers asking the same prompt at once make one upstream request — threads,
async tasks, and processes on the SQLite store and on PostgreSQL (the store's leases)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lineage_core.runtime import default_store

from .services.openai_stub import OpenAIStub, async_sdk_client, sdk_client

ROOT = Path(__file__).resolve().parents[1]
REQUEST: dict[str, Any] = {"model": "gpt-4o-mini", "temperature": 0,
                           "messages": [{"role": "user", "content": "Summarise the plot of Hamlet in one line"}]}
WORKER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    sys.path.insert(0, os.environ["ROOT"])
    from tests.services.openai_stub import sdk_client
    client = sdk_client(os.environ["BASE_URL"])
    request = json.loads(os.environ["REQUEST"])
    barrier = Path(os.environ["BARRIER"])
    (barrier / f"ready-{os.getpid()}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.002)
    raw = client.chat.completions.with_raw_response.create(**request)
    print(json.dumps({"answer": raw.parse().choices[0].message.content, "cache": raw.headers["x-lineage-cache"]}))
""")


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStub]:
    stub = OpenAIStub(delay=1.0).start()  # long enough that every worker asks while the first is being answered
    yield stub
    stub.stop()


@pytest.fixture
def stub(server: OpenAIStub) -> OpenAIStub:
    server.reset()
    return server


def test_eight_threads_make_one_upstream_call(stub: OpenAIStub) -> None:
    client = sdk_client(stub)

    def ask(_: int) -> str:
        return str(client.chat.completions.create(**REQUEST).choices[0].message.content)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert len(set(answers)) == 1 and stub.count() == 1
    runs = default_store().runs(job="llm.chat.completions")
    assert Counter(r["status"] for r in runs) == {"COMPLETED": 1, "CACHED": 7}
    waited = [r for r in runs if r["status"] == "CACHED"]
    assert all("computed concurrently" in r["reasons"][0] for r in waited)


def test_eight_async_tasks_make_one_upstream_call(stub: OpenAIStub) -> None:
    client = async_sdk_client(stub)

    async def main() -> list[str]:
        results = await asyncio.gather(*[client.chat.completions.create(**REQUEST) for _ in range(8)])
        return [str(r.choices[0].message.content) for r in results]

    started = time.monotonic()
    answers = asyncio.run(main())
    assert len(set(answers)) == 1 and stub.count() == 1
    assert time.monotonic() - started < 60  # the waiters never starved the leader of a worker thread
    assert Counter(r["status"] for r in default_store().runs()) == {"COMPLETED": 1, "CACHED": 7}


@pytest.mark.slow
def test_eight_processes_make_one_upstream_call(stub: OpenAIStub, backend: str, tmp_path: Path) -> None:
    env = {**os.environ, "ROOT": str(ROOT), "BASE_URL": stub.base_url, "REQUEST": json.dumps(REQUEST),
           "BARRIER": str(tmp_path), "LINEAGE_STORE_URL": backend}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(8)]
    deadline = time.monotonic() + 180
    while len(list(tmp_path.glob("ready-*"))) < 8 and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs if p.poll()]
        time.sleep(0.05)
    (tmp_path / "go").touch()
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=180)
        assert p.returncode == 0, stderr[-2000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert stub.count() == 1
    assert len({o["answer"] for o in outs}) == 1
    assert sorted(o["cache"] for o in outs) == ["hit"] * 7 + ["miss"]
    runs = default_store().runs(job="llm.chat.completions")
    assert Counter(r["status"] for r in runs) == {"COMPLETED": 1, "CACHED": 7}
    assert default_store().lease(str(runs[0]["cache_key"])) is None  # released
