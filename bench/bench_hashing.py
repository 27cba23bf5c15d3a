"""Hashing throughput and "nothing changed" re-checks — ours vs DVC and a plain blake3 loop.

* throughput: 8 files x 128 MiB from the page cache; ours (hash_files, parallel, streamed), a plain
  single-call blake3 loop over the same files, and `dvc add` of the same directory (fresh repo).
* re-check: a 2,001-file tree where nothing changed; ours (hash_directory with the stat cache in a
  SQLite store) vs `dvc status` on the same tree after `dvc add`, and a bare os.stat of every file.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import blake3
from common import emit, peer_python

from lineage_core.hashing import hash_directory, hash_files
from lineage_core.store import Store


def best_of(fn, n: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def make_big(root: Path) -> list[str]:
    root.mkdir(parents=True)
    chunk = os.urandom(1 << 20)
    paths = []
    for i in range(8):
        p = root / f"part{i}.bin"
        with open(p, "wb") as f:
            for _ in range(128):
                f.write(chunk[i:] + chunk[:i])
        paths.append(str(p))
    return paths


def make_tree(root: Path) -> None:
    for i in range(2001):
        d = root / f"d{i % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_text(f"row {i}\n" * 50)


def dvc(args: list[str], cwd: Path) -> float:
    exe = peer_python("dvc")
    assert exe is not None
    t = time.perf_counter()
    subprocess.run([str(exe.with_name("dvc")), *args], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-hash-"))
    try:
        big = make_big(work / "big")
        size = sum(os.path.getsize(p) for p in big)
        for p in big:  # warm the page cache
            Path(p).read_bytes()
        ours = best_of(lambda: hash_files(big))
        plain = best_of(lambda: [blake3.blake3(Path(p).read_bytes()).hexdigest() for p in big])
        result: dict[str, object] = {"bench": "hashing", "bytes": size,
                                     "ours_gb_s": size / ours / 1e9, "plain_blake3_gb_s": size / plain / 1e9}
        tree = work / "tree"
        make_tree(tree)
        store = Store.from_url(f"sqlite:///{work}/stat.db", (work / "art").as_uri())
        hash_directory(tree, store)  # first pass fills the stat cache
        result["recheck_ours_ms"] = statistics.median(
            [best_of(lambda: hash_directory(tree, store), 1) for _ in range(7)]) * 1000
        files = [str(p) for p in tree.rglob("*.txt")]
        result["stat_all_ms"] = best_of(lambda: [os.stat(f) for f in files], 5) * 1000
        if peer_python("dvc"):
            repo = work / "dvcrepo"
            repo.mkdir()
            dvc(["init", "--no-scm"], repo)
            shutil.move(str(work / "big"), repo / "big")
            result["dvc_add_gb_s"] = size / dvc(["add", "big"], repo) / 1e9
            shutil.move(str(tree), repo / "tree")
            dvc(["add", "tree"], repo)
            result["dvc_status_ms"] = statistics.median([dvc(["status"], repo) for _ in range(3)]) * 1000
        emit(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
