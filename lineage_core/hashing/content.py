"""Content identity of bytes, files and directory trees.

Hashes are algorithm-tagged strings (``blake3:<hex>``) so that a future algorithm can live beside
this one. A directory is the hash of its sorted manifest (relative POSIX path -> file hash +
executable bit): mtimes, owners and the order the OS lists entries never count, and changing one
file re-hashes one file (the others come from the stat cache).
"""

from __future__ import annotations

import json
import os
import stat as stat_mod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Protocol

import blake3

ALGORITHM = "blake3"
#: Bump when the way a file or directory hash is computed changes; stat-cache rows of another
#: schema are ignored, so an upgrade never serves a hash computed the old way.
HASH_SCHEMA = 1
_CHUNK = 8 << 20  # 8 MiB reads: bounded memory, large enough for blake3's threads to pay off
_SMALL = 1 << 20  # below this, one read and a single-threaded hash is fastest
Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def tag(hexdigest: str) -> str:
    return f"{ALGORITHM}:{hexdigest}"


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """``blake3:<hex>`` of a byte string."""
    if len(data) >= _SMALL:
        return tag(blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest())
    return tag(blake3.blake3(data).hexdigest())


class StreamingHasher:
    """Incremental hasher for data we write ourselves (artifacts hashed while they stream)."""

    def __init__(self) -> None:
        self._h = blake3.blake3(max_threads=blake3.blake3.AUTO)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)
        self.size += len(data)

    def hexdigest(self) -> str:
        return tag(self._h.hexdigest())


def hash_stream_file(path: str | os.PathLike[str]) -> str:
    """Hash one file by streaming it in fixed chunks: at most ``_CHUNK`` bytes resident."""
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size <= _CHUNK:  # one read: no chunk buffer to allocate for small and medium files
            data = f.read()
            threads = blake3.blake3.AUTO if len(data) >= _SMALL else 1
            return tag(blake3.blake3(data, max_threads=threads).hexdigest())
        h = blake3.blake3(max_threads=blake3.blake3.AUTO)
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
        return tag(h.hexdigest())


class StatKey(NamedTuple):
    """What must be unchanged for a cached file hash to stay valid: the file's identity (device, inode) and
    its size, mtime_ns and ctime_ns. ``os.utime`` can put an mtime back after an in-place rewrite; nothing
    but the kernel sets ctime, and every write, truncate, chmod or rename moves it, so a rewrite is a miss.
    """

    size: int
    mtime_ns: int
    inode: int
    device: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> StatKey:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns)


class StatCache(Protocol):
    """Path -> (stat key, hash). The store implements it on a table; tests may use a dict."""

    def get_many(self, paths: Sequence[str]) -> dict[str, tuple[StatKey, str]]: ...

    def get_under(self, directory: str) -> dict[str, tuple[StatKey, str]]:
        """Every row for a path below ``directory`` (one range scan instead of a huge IN list)."""
        ...

    def put_many(self, rows: Iterable[tuple[str, StatKey, str]]) -> None: ...


class MemoryStatCache:
    """In-process stat cache (used when no store is configured)."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[StatKey, str]] = {}

    def get_many(self, paths: Sequence[str]) -> dict[str, tuple[StatKey, str]]:
        return {p: self._rows[p] for p in paths if p in self._rows}

    def get_under(self, directory: str) -> dict[str, tuple[StatKey, str]]:
        prefix = directory.rstrip(os.sep) + os.sep
        return {p: v for p, v in self._rows.items() if p.startswith(prefix)}

    def put_many(self, rows: Iterable[tuple[str, StatKey, str]]) -> None:
        for path, key, digest in rows:
            self._rows[path] = (key, digest)


class FileEntry(NamedTuple):
    relpath: str
    hash: str
    executable: bool


def _workers() -> int:
    return max(2, min(8, (os.cpu_count() or 2) * 2))


def hash_files(
    paths: Sequence[str],
    cache: StatCache | None = None,
    stats: Sequence[os.stat_result] | None = None,
    under: str | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """Hash many absolute file paths; unchanged files come from ``cache`` without being read.

    Lookups are one batched query; only files whose stat identity (:class:`StatKey`) changed are read, in
    parallel (blake3 releases the GIL). ``progress(done_bytes, total_bytes)`` follows the reads.
    """
    if stats is None:
        stats = [os.stat(p) for p in paths]
    keys = [StatKey.of(st) for st in stats]
    if cache is None:
        known: dict[str, tuple[StatKey, str]] = {}
    else:
        known = cache.get_under(under) if under else cache.get_many(paths)
    out: list[str | None] = [None] * len(paths)
    todo: list[int] = []
    for i, (p, k) in enumerate(zip(paths, keys, strict=True)):
        hit = known.get(p)
        if hit is not None and hit[0] == k:
            out[i] = hit[1]
        else:
            todo.append(i)
    if todo:
        total = sum(keys[i].size for i in todo)
        done = 0
        if len(todo) == 1:
            out[todo[0]] = hash_stream_file(paths[todo[0]])
        else:
            with ThreadPoolExecutor(_workers()) as pool:
                for i, digest in zip(todo, pool.map(lambda j: hash_stream_file(paths[j]), todo), strict=True):
                    out[i] = digest
                    done += keys[i].size
                    if progress is not None:
                        progress(done, total)
        if progress is not None:
            progress(total, total)
        if cache is not None:
            cache.put_many((paths[i], keys[i], out[i] or "") for i in todo)
    return [d for d in out if d is not None]


def hash_file(path: str | os.PathLike[str], cache: StatCache | None = None, progress: Progress | None = None) -> str:
    return hash_files([os.path.abspath(path)], cache, progress=progress)[0]


def walk_files(root: str) -> list[tuple[str, os.stat_result]]:
    """Every regular file under ``root`` (following file symlinks), sorted by relative path."""
    found: list[tuple[str, os.stat_result]] = []
    stack = [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    st = os.stat(entry.path)
                    if stat_mod.S_ISREG(st.st_mode):
                        found.append((entry.path, st))
    found.sort(key=lambda e: e[0])
    return found


def directory_manifest(
    root: str | os.PathLike[str], cache: StatCache | None = None, progress: Progress | None = None
) -> list[FileEntry]:
    base = os.path.abspath(root)
    files = walk_files(base)
    paths = [p for p, _ in files]
    digests = hash_files(paths, cache, [st for _, st in files], under=base, progress=progress)
    cut = len(base) + 1
    posix = os.sep == "/"
    return [
        FileEntry(p[cut:] if posix else Path(p[cut:]).as_posix(), d, bool(st.st_mode & stat_mod.S_IXUSR))
        for (p, st), d in zip(files, digests, strict=True)
    ]


def manifest_hash(entries: Iterable[FileEntry]) -> str:
    rows = sorted([e.relpath, e.hash, e.executable] for e in entries)
    data = json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()
    return tag(blake3.blake3(b"dir\0" + data).hexdigest())


def hash_directory(
    root: str | os.PathLike[str], cache: StatCache | None = None, progress: Progress | None = None
) -> str:
    return manifest_hash(directory_manifest(root, cache, progress))


def hash_path(path: str | os.PathLike[str], cache: StatCache | None = None, progress: Progress | None = None) -> str:
    """A file's or a directory tree's content hash; raises FileNotFoundError if neither."""
    p = os.fspath(path)
    if os.path.isdir(p):
        return hash_directory(p, cache, progress)
    return hash_file(p, cache, progress)
