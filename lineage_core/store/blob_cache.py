"""The node-local verified blob cache of a server store (``LINEAGE_BLOB_CACHE``): a blob is downloaded once per node.

A pod that uses the lineage server as its store would otherwise stream and re-hash every blob it hits. Here each
verified blob is kept under its content hash (``<root>/blobs/ab/<hex>``), so a later hit — in this process, in the
next task's process, in another pod that mounts the same hostPath or PVC — reads it locally.

Why it can never serve wrong bytes:
- a file appears under its digest only by ``os.replace`` of a temp file whose bytes were hashed while they were
  written and matched that digest: no partial file is ever visible, and concurrent fills of one blob (many processes)
  each publish a complete, verified copy — the last rename wins, and every copy is the same bytes;
- a read checks the size recorded for the artifact and re-hashes the bytes, except for a large blob (≥ 16 MiB, as
  for local artifacts) whose stat identity (device, inode, size, mtime_ns, ctime_ns) *this process* recorded when it
  wrote or last hashed it: the identity lives in the process's memory (the store's stat cache), never on the shared
  disk, so nothing another pod writes there can vouch for bytes. A rewrite in place moves ctime (only the kernel
  sets it), so it is hashed again. ``verify="always"`` hashes every read;
- a damaged entry (wrong bytes, wrong size, not a regular file) is removed and the blob downloaded again, which
  repairs it.

Size: ``LINEAGE_BLOB_CACHE_MAX_BYTES`` (default 10 GiB). After a fill the least recently used blobs are removed
until the cache fits (the directory is scanned at most every 30 s while this process's own fills keep within it).
Use is recorded on a marker beside the blob (``<hex>.used``, its mtime), not on the blob: touching the blob would
move its ctime and cost the next read a full hash. A blob larger than the bound is not cached.
Removing a blob another process is reading is safe (an open file outlives its name).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_mod
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from ..errors import ConfigError, IntegrityError
from ..hashing.content import StatCache, StatKey, StreamingHasher, hash_bytes
from ..settings import Settings

if TYPE_CHECKING:
    import mmap

TRUST_STAT_ABOVE = 16 << 20  # as store.artifacts: below this a read is hashed every time
_OPEN = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_TOUCH_EVERY = 60.0  # seconds: a blob's use is recorded at most this often per process
_STALE_TEMP = 3600.0  # seconds: a temp file this old was left by a process that died while filling
# seconds: after a scan, a fill that keeps this process's count within the bound skips the next scan for this long
# (other processes' fills are seen at the next scan: the bound can be passed by what they add meanwhile)
_RESCAN_EVERY = 30.0


class Cached(NamedTuple):
    """A blob read from the cache: its bytes (mapped when large) and the path they came from. (A record the read
    path only reads: a NamedTuple, ~0.3 ms cheaper than a dataclass to create in a pod's fresh process.)"""

    data: bytes | mmap.mmap
    path: str


class BlobCache:
    """Verified blobs by digest in ``root`` (shared by every process and pod that mounts it), at most ``max_bytes``."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ConfigError(f"LINEAGE_BLOB_CACHE_MAX_BYTES={max_bytes} must be 0 or more")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._touched: dict[str, float] = {}
        self._known: tuple[float, int] | None = None  # (when, bytes) the last scan found, plus what we added since

    @classmethod
    def from_settings(cls, s: Settings) -> BlobCache | None:
        """The cache the settings name: ``$LINEAGE_BLOB_CACHE``, default ``$LINEAGE_HOME/blob-cache``; None when
        it is ``off`` or its bound is 0."""
        if s.blob_cache == "off" or s.blob_cache_max_bytes == 0:
            return None
        root = Path(s.blob_cache).expanduser() if s.blob_cache else s.home / "blob-cache"
        return cls(root, s.blob_cache_max_bytes)

    def path_for(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.root, "blobs", hexd[:2], hexd)

    # -- reads -------------------------------------------------------------------------------------
    def get(self, digest: str, size: int | None, stat_cache: StatCache | None) -> Cached | None:
        """The verified bytes of ``digest`` when the cache holds them (of ``size`` bytes when known), else None.
        A damaged copy is removed (the caller downloads again, which repairs it); one of another size than the
        entry records is left alone and not used (the download then says what is wrong)."""
        path = self.path_for(digest)
        try:
            fd = os.open(path, _OPEN)
        except OSError:  # absent, or a symlink planted there (ELOOP): not ours
            if os.path.islink(path):
                self._remove(path)
            return None
        try:
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(f.fileno())
                if not stat_mod.S_ISREG(st.st_mode):
                    self._remove(path)
                    return None
                if size is not None and st.st_size != size:
                    return None
                data: bytes | mmap.mmap
                if st.st_size >= TRUST_STAT_ABOVE:
                    import mmap  # only for a large blob (a small one is read)

                    data = mmap.mmap(f.fileno(), st.st_size, access=mmap.ACCESS_READ)
                else:
                    data = f.read(st.st_size + 1)
                    if len(data) != st.st_size:
                        return None
        except (OSError, ValueError):
            return None
        large = stat_cache is not None and st.st_size >= TRUST_STAT_ABOVE
        if not (large and stat_cache is not None and stat_cache.get_many([path]).get(path) == (StatKey.of(st), digest)):
            if hash_bytes(memoryview(data)) != digest:
                if not isinstance(data, bytes):  # mapped
                    data.close()
                self._damaged(path, st)
                return None
            if large and stat_cache is not None:
                stat_cache.put_many([(path, StatKey.of(st), digest)])
        self._touch(path)
        return Cached(data, path)

    # -- fills -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def filling(self, digest: str, size: int | None) -> Iterator[Fill | None]:
        """A :class:`Fill` to write the downloaded bytes into (None when the blob is too large to cache or the cache
        directory cannot be written); on leaving, the copy is published only if :meth:`Fill.publish` was called."""
        if size is not None and size > self.max_bytes:
            yield None
            return
        try:
            tmpdir = os.path.join(self.root, "tmp")
            os.makedirs(tmpdir, exist_ok=True)
            fd, tmp = _mkstemp(tmpdir, digest)
        except OSError:
            yield None
            return
        fill = Fill(self, digest, tmp, os.fdopen(fd, "wb"))
        try:
            yield fill
        finally:
            fill.abandon()

    def _published(self, path: str, written: os.stat_result, stat_cache: StatCache | None, digest: str) -> None:
        """After the rename: remember the identity of the file we wrote (same inode, size and mtime as when it was
        closed, so these are our verified bytes) and keep the cache within its bound."""
        if stat_cache is not None and written.st_size >= TRUST_STAT_ABOVE:
            with contextlib.suppress(OSError):
                now = os.stat(path, follow_symlinks=False)
                if (now.st_ino, now.st_dev, now.st_size, now.st_mtime_ns) == (
                        written.st_ino, written.st_dev, written.st_size, written.st_mtime_ns):
                    stat_cache.put_many([(path, StatKey.of(now), digest)])
        self._touch(path, force=True)
        if self._known is not None and time.monotonic() - self._known[0] < _RESCAN_EVERY and \
                self._known[1] + written.st_size <= self.max_bytes:
            self._known = (self._known[0], self._known[1] + written.st_size)  # surely within the bound: no scan
            return
        self.evict()

    # -- size bound --------------------------------------------------------------------------------
    def entries(self) -> list[tuple[float, int, str]]:
        """(last use, size, path) of every cached blob, least recently used first."""
        out = []
        blobs = os.path.join(self.root, "blobs")
        with contextlib.suppress(OSError):
            for sub in os.scandir(blobs):
                if not sub.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(OSError):
                    names = {e.name: e for e in os.scandir(sub.path)}
                for name, e in names.items():
                    if name.endswith(".used"):
                        if name[:-5] not in names:
                            self._remove(e.path)  # the marker of a removed blob
                        continue
                    with contextlib.suppress(OSError):
                        st = e.stat(follow_symlinks=False)
                        marker = names.get(name + ".used")
                        used = max(st.st_mtime, marker.stat().st_mtime if marker is not None else 0.0)
                        out.append((used, st.st_size, e.path))
        return sorted(out)

    def evict(self) -> int:
        """Remove least recently used blobs until the cache holds at most ``max_bytes``; the bytes removed."""
        self._sweep_temp()
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in entries:
            if total - removed <= self.max_bytes:
                break
            self._remove(path)
            self._remove(path + ".used")
            removed += size
        self._known = (time.monotonic(), total - removed)
        return removed

    def _sweep_temp(self) -> None:
        cutoff = time.time() - _STALE_TEMP
        with contextlib.suppress(OSError):
            for e in os.scandir(os.path.join(self.root, "tmp")):
                with contextlib.suppress(OSError):
                    if e.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(e.path)

    # -- helpers -----------------------------------------------------------------------------------
    def _touch(self, path: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._touched.get(path, -_TOUCH_EVERY) < _TOUCH_EVERY:
            return
        self._touched[path] = now
        marker = path + ".used"
        try:
            os.utime(marker)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666))
        except OSError:
            pass

    def _damaged(self, path: str, seen: os.stat_result) -> None:
        """Remove a damaged copy — the one we read, not a repaired one another process renamed there since."""
        with contextlib.suppress(OSError):
            now = os.stat(path, follow_symlinks=False)
            if (now.st_ino, now.st_dev) == (seen.st_ino, seen.st_dev):
                os.unlink(path)

    @staticmethod
    def _remove(path: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(path)


class Fill:
    """One process's copy of a blob being downloaded: written and hashed as it streams, published by rename."""

    def __init__(self, cache: BlobCache, digest: str, tmp: str, f: IO[bytes]) -> None:
        self.cache, self.digest, self.tmp, self._f = cache, digest, tmp, f
        self.hasher = StreamingHasher()
        self.ok = True  # False once a write failed (a full disk): the download goes on, nothing is cached

    def write(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        if self.ok:
            try:
                self._f.write(chunk)
            except OSError:
                self.ok = False

    def publish(self, stat_cache: StatCache | None) -> str | None:
        """Publish the copy if its bytes hash to the digest (IntegrityError if not); its path, or None when the
        copy could not be written (nothing cached, the bytes are still sound)."""
        actual = self.hasher.hexdigest()
        if actual != self.digest:
            raise IntegrityError(f"artifact {self.digest} failed verification (content hash {actual})")
        if not self.ok:
            return None
        try:
            self._f.flush()
            written = os.fstat(self._f.fileno())
            self._f.close()
            os.chmod(self.tmp, 0o444)
            path = self.cache.path_for(self.digest)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(self.tmp, path)  # atomic: the name shows a complete, verified copy or nothing
        except OSError:
            return None
        self.cache._published(path, written, stat_cache, self.digest)
        return path

    def abandon(self) -> None:
        with contextlib.suppress(OSError):
            self._f.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def _mkstemp(directory: str, digest: str) -> tuple[int, str]:
    """A new temp file in ``directory`` (the cache's own filesystem, so publishing is a rename)."""
    for _ in range(100):
        path = os.path.join(directory, f"{digest.split(':', 1)[1][:16]}.{os.getpid()}.{os.urandom(6).hex()}")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644), path
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no temp file name left")
