"""Integrity that a local change cannot fool: the stat identity (device, inode, size, mtime_ns, ctime_ns),
bounded reads of regular files only, verify="always", and the `lineage cache verify` scrub."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from lineage_core import cached, explain, settings
from lineage_core.cache import CACHE_OPTIONS, default_store
from lineage_core.errors import ConfigError
from lineage_core.hashing import hash_bytes
from lineage_core.scrub import scrub
from lineage_core.store import Store
from lineage_core.store import artifacts as artifacts_mod
from lineage_core.store import schema as t
from lineage_core.store.metadata import _MIGRATIONS, HEAD_REVISION


def test_a_store_at_0005_migrates_and_its_old_stat_rows_are_a_miss(
    backend: str, tmp_path: Path, lineage_home: Path
) -> None:
    lineage_home.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(backend)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
        conn.execute(sa.text(
            "INSERT INTO stat_cache (path, size, mtime_ns, inode, hash, schema) VALUES ('/x', 1, 2, 3, 'h', 1)"
        ))
    engine.dispose()
    store = Store.from_url(backend, (tmp_path / "art").as_uri())
    try:
        assert store.current_revision() == HEAD_REVISION  # 0006 or later
        with store.engine.connect() as c:
            row = c.execute(sa.select(t.stat_cache.c.device, t.stat_cache.c.ctime_ns)).one()
        assert tuple(row) == (None, None)
        assert store.get_many(["/x"]) == {} and store.get_under("/") == {}  # never trusted: a miss
    finally:
        store.close()


# -- helpers ------------------------------------------------------------------------------------------
STEPS = '''
import numpy as np
from pathlib import Path
from lineage_core import cached

CALLS = []

def value(kind, size):
    rng = np.random.default_rng(size)
    return rng.bytes(size) if kind == "bytes" else rng.random(size // 8)

@cached
def produce(kind: str, size: int):
    CALLS.append((kind, size))
    return value(kind, size)

@cached(verify="always")
def produce_always(kind: str, size: int):
    CALLS.append((kind, size))
    return value(kind, size)

@cached(verify="stat")
def produce_stat(kind: str, size: int):
    CALLS.append((kind, size))
    return value(kind, size)

@cached
def read_input(path: Path) -> bytes:
    CALLS.append(str(path))
    return path.read_bytes()

@cached(file_deps=["deps/*.txt"])
def with_deps(x: int) -> bytes:
    CALLS.append(x)
    return (Path(__file__).parent / "deps" / "table.txt").read_bytes()

@cached
def tree(n: int) -> Path:
    out = Path(__file__).parent / f"tree-{n}"
    out.mkdir(exist_ok=True)
    for i in range(n):
        (out / f"part-{i}.bin").write_bytes(bytes([i]) * (1000 + i))
    return out
'''

SMALL, UNDER, OVER = 1024, (16 << 20) - 4096, 20 << 20  # the stat may vouch for a local blob from 16 MiB


@pytest.fixture
def steps(make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.delenv("LINEAGE_VERIFY", raising=False)
    return make_module(STEPS)


def blob_of(fn: Any) -> Path:
    store = default_store()
    entry = store.lookup(explain(fn).key)
    assert entry is not None
    return Path(store.artifacts.path_for(entry.artifact_hash))


def identity(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev


def rewrite_in_place(path: Path, offset: int, data: bytes | None = None) -> None:
    """Overwrite bytes at ``offset`` without changing the size, then put the mtime back (what a careless
    tool or a bad actor does): size, mtime, inode and device are all as they were."""
    before = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read(4)
        f.seek(offset)
        f.write(data if data is not None else bytes(b ^ 0xFF for b in old))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert identity(path) == (before.st_size, before.st_mtime_ns, before.st_ino, before.st_dev)


def same(a: Any, b: Any) -> bool:
    return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else a == b


def bounded(call: Callable[[], Any]) -> Any:
    """Run ``call`` in a thread and fail (rather than hang the suite) if it has not returned in a minute: a
    safety bound for reads that used to block or run without end, not a timing assertion."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the read did not stop"
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- in-place rewrites with the mtime restored ----------------------------------------------------------
@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("kind", ["bytes", "numpy"])
@pytest.mark.parametrize("size", [SMALL, UNDER, OVER], ids=["small", "under-16MiB", "over-16MiB"])
def test_a_blob_rewritten_in_place_with_its_mtime_restored_is_a_miss(steps: ModuleType, kind: str,
                                                                    size: int) -> None:
    expected = steps.value(kind, size)
    assert same(steps.produce(kind, size), expected)
    assert same(steps.produce(kind, size), expected) and explain(steps.produce).hit  # vouched for from here
    assert same(steps.produce(kind, size), expected) and explain(steps.produce).hit
    blob = blob_of(steps.produce)
    rewrite_in_place(blob, os.path.getsize(blob) // 2)
    value = steps.produce(kind, size)
    out = explain(steps.produce)
    assert not out.hit and "failed verification" in out.reasons[0]
    assert same(value, expected) and len(steps.CALLS) == 2
    assert same(steps.produce(kind, size), expected) and explain(steps.produce).hit  # recomputed, stored again


@pytest.mark.usefixtures("backend")
def test_a_path_input_rewritten_with_the_same_size_and_mtime_is_a_miss(steps: ModuleType, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_bytes(b"a,b\n1,2\n")
    assert steps.read_input(data) == b"a,b\n1,2\n"
    assert steps.read_input(data) == b"a,b\n1,2\n" and explain(steps.read_input).hit
    rewrite_in_place(data, 4, b"7,8\n")
    assert steps.read_input(data) == b"a,b\n7,8\n"
    out = explain(steps.read_input)
    assert not out.hit and "input 'path' changed" in out.reasons[0] and len(steps.CALLS) == 2


@pytest.mark.usefixtures("backend")
def test_a_file_dep_rewritten_with_the_same_size_and_mtime_is_a_miss(steps: ModuleType) -> None:
    deps = Path(steps.__file__).parent / "deps"
    deps.mkdir()
    (deps / "table.txt").write_bytes(b"rate=0.10\n")
    assert steps.with_deps(1) == b"rate=0.10\n"
    assert steps.with_deps(1) == b"rate=0.10\n" and explain(steps.with_deps).hit
    rewrite_in_place(deps / "table.txt", 5, b"0.25")
    assert steps.with_deps(1) == b"rate=0.25\n"
    out = explain(steps.with_deps)
    assert not out.hit and "table.txt" in out.reasons[0] and len(steps.CALLS) == 2


# -- what is at a blob's address must be a regular file of the recorded size ------------------------------
def _symlink_to_dev_zero(blob: Path) -> None:
    blob.unlink()
    blob.symlink_to("/dev/zero")


def _fifo(blob: Path) -> None:
    blob.unlink()
    os.mkfifo(blob)


def _directory(blob: Path) -> None:
    blob.unlink()
    blob.mkdir()
    (blob / "inside").write_bytes(b"x" * 100)


def _sparse_1_gib(blob: Path) -> None:
    os.truncate(blob, 1 << 30)  # a regular file, but not the recorded size: refused before any read


@pytest.mark.parametrize("replace", [_symlink_to_dev_zero, _fifo, _directory, _sparse_1_gib],
                         ids=["symlink-to-dev-zero", "fifo", "directory", "sparse-1GiB"])
@pytest.mark.parametrize("size", [SMALL, OVER], ids=["small", "over-16MiB"])
def test_a_blob_replaced_by_something_else_is_a_miss_and_the_read_stops(
    steps: ModuleType, replace: Callable[[Path], None], size: int, caplog: pytest.LogCaptureFixture,
) -> None:
    expected = steps.value("bytes", size)
    assert steps.produce("bytes", size) == expected
    blob = blob_of(steps.produce)
    replace(blob)
    with caplog.at_level(logging.WARNING, logger="lineage_core"):
        assert bounded(lambda: steps.produce("bytes", size)) == expected
    out = explain(steps.produce)
    assert not out.hit and len(steps.CALLS) == 2
    assert any(w in out.reasons[0] for w in ("symbolic link", "not a regular file", "bytes recorded")), out.reasons
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert steps.produce("bytes", size) == expected and explain(steps.produce).hit  # republished over it
    assert blob.is_file() and not blob.is_symlink() and blob.stat().st_size == size


# -- verify="always" and LINEAGE_VERIFY=always -----------------------------------------------------------
@pytest.fixture
def blob_hashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the blobs hit reads hash (the artifact store's one hash call)."""
    seen: list[int] = []
    real = artifacts_mod.hash_bytes

    def counted(data: Any) -> str:
        seen.append(len(data))
        return real(data)

    monkeypatch.setattr(artifacts_mod, "hash_bytes", counted)
    return seen


@pytest.mark.usefixtures("backend")
def test_verify_always_hashes_every_hit_and_stat_does_not(steps: ModuleType, blob_hashes: list[int]) -> None:
    other = OVER + 8  # another blob: publishing identical bytes again would give the first a new inode
    for fn, size in ((steps.produce, OVER), (steps.produce_always, other)):
        fn("bytes", size)
        fn("bytes", size)
    blob_hashes.clear()
    for _ in range(3):
        assert steps.produce("bytes", OVER) == steps.value("bytes", OVER) and explain(steps.produce).hit
    assert blob_hashes == []  # the default: an unchanged stat identity vouches for the large blob
    for _ in range(3):
        assert steps.produce_always("bytes", other) == steps.value("bytes", other)
        assert explain(steps.produce_always).hit
    assert blob_hashes == [other] * 3


@pytest.mark.usefixtures("backend")
def test_lineage_verify_always_hashes_every_hit_unless_the_step_says_stat(
    steps: ModuleType, blob_hashes: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for fn, size in ((steps.produce, OVER), (steps.produce_stat, OVER + 8)):
        fn("bytes", size)
        fn("bytes", size)
    monkeypatch.setenv("LINEAGE_VERIFY", "always")
    blob_hashes.clear()
    for _ in range(2):
        steps.produce("bytes", OVER)
        assert explain(steps.produce).hit
    assert blob_hashes == [OVER] * 2
    blob_hashes.clear()
    steps.produce_stat("bytes", OVER + 8)
    assert explain(steps.produce_stat).hit and blob_hashes == []  # the step's own setting wins
    with settings.use(settings.Settings.from_env().replace(verify="stat")):
        steps.produce("bytes", OVER)
    assert blob_hashes == []


def test_verify_values_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"verify='sometimes' is not one of stat\|always"):
        cached(verify="sometimes")(lambda x: x)
    with pytest.raises(ConfigError, match="LINEAGE_VERIFY='never'"):
        settings.Settings.from_env({"LINEAGE_VERIFY": "never"})
    assert settings.Settings.from_env({"LINEAGE_VERIFY": " Always "}).verify == "always"
    assert settings.Settings.from_env({}).verify == "stat"
    assert "verify" in CACHE_OPTIONS  # adapters (Airflow, KFP) accept it with the other cache options


# -- lineage cache verify ------------------------------------------------------------------------------
def lineage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage_core.cli", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120)


@pytest.mark.usefixtures("backend")
def test_cache_verify_finds_and_tombstones_a_corrupted_blob(steps: ModuleType) -> None:
    sizes = [2**i for i in range(4, 14)]  # ten small entries
    for n in sizes:
        steps.produce("bytes", n)
    steps.produce("bytes", OVER)
    steps.produce("bytes", OVER)  # a large blob, vouched for by its stat on a hit
    big = blob_of(steps.produce)
    digest = "blake3:" + big.name
    with open(big, "r+b") as f:  # bit rot: the bytes change under an unchanged stat (no write, no ctime)
        f.seek(12345)
        f.write(b"\0\0\0\0")
    r = lineage("cache", "verify", "--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert (report["artifacts"], report["checked"], report["blobs"], report["tombstoned"]) == (11, 11, 11, 1)
    assert report["bytes"] == sum(sizes) + OVER
    assert [(b["artifact"], b["blob"], b["tombstoned"]) for b in report["bad"]] == [(digest, digest, 1)]
    assert "failed verification" in report["bad"][0]["problem"]
    assert default_store().lookup(explain(steps.produce).key) is None  # tombstoned: the next call recomputes
    assert steps.produce("bytes", OVER) == steps.value("bytes", OVER) and not explain(steps.produce).hit
    again = lineage("cache", "verify")
    assert again.returncode == 0, again.stderr
    assert "verified 11 of 11 artifacts (11 blobs, 20.0 MiB): 0 bad, 0 entries tombstoned" in again.stdout


@pytest.mark.usefixtures("backend")
def test_cache_verify_checks_a_tree_s_members(steps: ModuleType) -> None:
    out = steps.tree(3)
    store = default_store()
    entry = store.lookup(explain(steps.tree).key)
    assert entry is not None
    member = "blake3:" + hash_bytes((out / "part-1.bin").read_bytes()).split(":")[1]
    path = Path(store.artifacts.path_for(member))
    path.write_bytes(b"?" * path.stat().st_size)
    r = lineage("cache", "verify")
    assert r.returncode == 1, r.stderr
    assert f"bad: {member} (in tree {entry.artifact_hash}): " in r.stdout
    assert "verified 1 of 1 artifacts (4 blobs" in r.stdout and "1 bad, 1 entry tombstoned" in r.stdout
    assert store.lookup(entry.key) is None


@pytest.mark.usefixtures("backend")
def test_cache_verify_sample_checks_a_reproducible_fraction(steps: ModuleType) -> None:
    sizes = [2**i for i in range(4, 24, 2)]  # ten artifacts whose sizes sum to a different total for every subset
    for n in sizes:
        steps.produce("bytes", n)
    store = default_store()
    half = scrub(store, 0.5, seed=7)
    assert (half.artifacts, half.checked, half.blobs, half.bad) == (10, 5, 5, [])
    picked = {n for n in sizes if n & half.bytes}
    assert len(picked) == 5 and sum(picked) == half.bytes
    assert scrub(store, 0.5, seed=7).bytes == half.bytes  # the same seed checks the same five
    assert {scrub(store, 0.5, seed=s).bytes for s in range(8)} != {half.bytes}  # other seeds, other samples
    assert scrub(store, 0.05).checked == 1 and scrub(store, 0.0).checked == 0  # any fraction above 0 checks one
    r = lineage("cache", "verify", "--sample", "0.3", "--seed", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["checked"] == 3
    bad = lineage("cache", "verify", "--sample", "1.5")
    assert bad.returncode == 2 and "1.5" in bad.stderr and "Traceback" not in bad.stderr
    with pytest.raises(ConfigError, match="between 0 and 1"):
        scrub(store, -0.1)


