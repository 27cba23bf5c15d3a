"""Content-addressed artifact blobs on any fsspec filesystem.

A blob lives at ``<root>/blobs/<2 hex>/<hex>`` named by the blake3 of its bytes, so identical outputs
are stored once. Writes are atomic: bytes go to a temp file, are hashed, then published with a rename
(local) or a single put of the finished object (object stores); a reader never sees a partial blob.
Every read re-hashes what it read and raises :class:`IntegrityError` on a mismatch, so a corrupt or
truncated blob can never be served as a cache hit.

A local blob is opened without following a symlink and without blocking, and read only when it is a
regular file of the size recorded for it: a blob replaced by a symlink to ``/dev/zero``, a FIFO, a
directory or a (sparse) file of another size is an :class:`ArtifactError` (the cache path tombstones the
entry and recomputes), never a read without bound. A large local blob may be vouched for by its stat
identity (device, inode, size, mtime_ns, ctime_ns: ``os.utime`` cannot restore ctime) unless the caller
asks for a full hash (``verify="always"``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat as stat_mod
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from .. import settings
from ..errors import ArtifactError, ConfigError, IntegrityError
from ..hashing.content import StatCache, StatKey, StreamingHasher, hash_bytes, hash_stream_file
from ..redact import redact_url

if TYPE_CHECKING:
    import mmap

_TRUST_STAT_ABOVE, _TRANSFER_THREADS, _CHUNK = 16 << 20, 8, 8 << 20
# Never follow a symlink at the blob's own name, never block (a FIFO), never leak the descriptor to a child.
_OPEN_BLOB = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def _filesystem(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the root path in it."""
    from fsspec.core import url_to_fs

    try:
        # fsspec caches one filesystem instance per (protocol, options): credentials and
        # connection pools are set up once per process, not per artifact (ZenML #3721).
        fs, root = url_to_fs(url, **options)
    except ImportError as e:
        extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs"}.get(url.split("://", 1)[0], "")
        hint = f" (pip install 'lineage-core[{extra}]')" if extra else ""
        raise ConfigError(f"cannot open artifact store {redact_url(url)}: {e}{hint}") from None
    except ValueError as e:
        raise ConfigError(f"cannot open artifact store {redact_url(url)}: {e}") from None
    return fs, root


def _pool() -> Any:
    """Threads for a transfer of many blobs (imported here: a hit reads one, and a pod need not load them)."""
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(_TRANSFER_THREADS)


def _plain_file_url(url: str) -> bool:
    """``file:///an/absolute/path`` with nothing fsspec would read differently (no chaining, query, fragment or
    escapes): a directory the store reads and writes with os."""
    return url.startswith("file:///") and not any(c in url[len("file:///"):] for c in ":?#%")


def _local_fs_class() -> type:
    from fsspec.implementations.local import LocalFileSystem
    return LocalFileSystem  # type: ignore[no-any-return]


class ArtifactRecord(NamedTuple):
    hash: str
    uri: str
    size: int


class ArtifactStore:
    """Blobs under one fsspec URL (``file:///...`` by default; ``s3://``, ``gs://`` with their extras)."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        if options is None:
            options = dict(settings.Settings.current().artifacts_options)
        if not options and _plain_file_url(self.url):
            # A plain local directory (the default): blobs are read and written with os, so fsspec (tens of ms to
            # import) loads only when something asks for ``fs``. The root is the one fsspec makes of the URL.
            root, self.protocol, self.local = self.url[len("file://"):], "file", True
        else:
            self.fs, root = _filesystem(self.url, options)
            self.protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
            self.local = isinstance(self.fs, _local_fs_class())
        self.root = root.rstrip("/")
        if self.local:
            self._scratch = os.path.join(self.root, "tmp")
        else:
            import tempfile

            self._scratch = tempfile.gettempdir()
        if self.local:
            try:
                os.makedirs(self._scratch, exist_ok=True)
            except OSError as e:
                raise self.write_error(e, self._scratch) from e

    def __getattr__(self, name: str) -> Any:
        if name == "fs":  # a plain local directory's filesystem, made on first use
            self.fs = _filesystem(self.url, {})[0]
            return self.fs
        raise AttributeError(name)

    def path_for(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return f"{self.root}/blobs/{hexd[:2]}/{hexd}"

    @property
    def root_uri(self) -> str:
        """Where the blobs live, as a URI (what the lineage server tells its remote clients)."""
        return f"file://{self.root}" if self.local else str(self.fs.unstrip_protocol(self.root))

    def uri_for(self, digest: str) -> str:
        path = self.path_for(digest)
        return f"file://{path}" if self.local else self.fs.unstrip_protocol(path)

    def new_temp_path(self, suffix: str = "") -> str:
        """A scratch file on the same filesystem as the blobs (so publishing is a rename)."""
        import tempfile  # a write's: not loaded by a process that only hits

        try:
            fd, path = tempfile.mkstemp(dir=self._scratch, suffix=suffix)
        except OSError as e:
            raise self.write_error(e, self._scratch) from e
        os.close(fd)
        return path

    def write_error(self, e: OSError, path: str) -> ArtifactError:
        """A failed write as an ArtifactError naming the path and what to do about it."""
        where = f"{path} (artifact store {redact_url(self.url)})"
        if e.errno in _FULL:
            return ArtifactError(f"no space left writing {where}: {e.strerror}; free space there or point "
                                 "LINEAGE_ARTIFACTS_URL at a larger volume")
        if e.errno in _NOT_WRITABLE:
            return ArtifactError(f"cannot write {where}: {e.strerror}; make the artifacts directory writable by "
                                 "this user or point LINEAGE_ARTIFACTS_URL at a writable location")
        return ArtifactError(f"could not write {where}: {e}")

    @contextlib.contextmanager
    def writing(self, tmp_path: str) -> Iterator[None]:
        """Around code that writes a temp file from :meth:`new_temp_path` (a materializer saving a value):
        on any failure the file is removed, and a full disk or a read-only directory is an ArtifactError
        naming the path and what to do, not a bare OSError."""
        try:
            yield
        except OSError as e:
            _silent_unlink(tmp_path)
            ours = e.filename is None or os.fspath(e.filename) == tmp_path
            if isinstance(e, ArtifactError) or not (e.errno in _FULL or (ours and e.errno in _NOT_WRITABLE)):
                raise
            raise self.write_error(e, tmp_path) from e
        except BaseException:
            _silent_unlink(tmp_path)
            raise

    def publish(self, tmp_path: str, digest: str | None = None) -> ArtifactRecord:
        """Hash a finished temp file and move it to its content address (idempotent, atomic). ``digest``: the
        hash the caller computed while writing the file itself (the server, streaming an upload)."""
        try:
            digest = digest or hash_stream_file(tmp_path)
            size = os.path.getsize(tmp_path)
            final = self.path_for(digest)
            # Always (re)publish: identical bytes by construction, and it repairs a damaged blob.
            if self.local:
                os.makedirs(os.path.dirname(final), exist_ok=True)
                if os.path.isdir(final) and not os.path.islink(final):
                    shutil.rmtree(final)  # a directory where the blob belongs (rename cannot replace it)
                os.replace(tmp_path, final)
            else:
                # One PUT (or a completed multipart upload): object stores make the object visible
                # whole or not at all. Our content hash rides along as object metadata.
                self.fs.put_file(tmp_path, final, **self._metadata_kwargs(digest))
                os.unlink(tmp_path)
        except Exception as e:  # every backend failure becomes one typed error
            _silent_unlink(tmp_path)
            if isinstance(e, OSError) and e.errno in _FULL + _NOT_WRITABLE:
                raise self.write_error(e, os.fspath(e.filename or tmp_path)) from e
            raise ArtifactError(f"could not store artifact in {redact_url(self.url)}: {e}") from e
        return ArtifactRecord(digest, self.uri_for(digest), size)

    def publish_file(self, src: str) -> ArtifactRecord:
        """Store a copy of ``src`` (left untouched) under its content address."""
        if self.local:
            tmp = self.new_temp_path()
            shutil.copyfile(src, tmp)
            return self.publish(tmp)
        try:
            digest = hash_stream_file(src)
            self.fs.put_file(src, self.path_for(digest), **self._metadata_kwargs(digest))
        except Exception as e:  # every backend failure becomes one typed error
            raise ArtifactError(f"could not store {src} in {redact_url(self.url)}: {e}") from e
        return ArtifactRecord(digest, self.uri_for(digest), os.path.getsize(src))

    def publish_files(self, srcs: list[str]) -> list[ArtifactRecord]:
        """Store many files in parallel (a directory output's members); results in input order."""
        if len(srcs) <= 1:
            return [self.publish_file(s) for s in srcs]
        with _pool() as pool:
            return list(pool.map(self.publish_file, srcs))

    def read_many(self, digests: list[str]) -> dict[str, bytes | mmap.mmap]:
        """Verified bytes of many blobs, fetched in parallel."""
        with _pool() as pool:
            return dict(zip(digests, pool.map(self.read_verified, digests), strict=True))

    def _metadata_kwargs(self, digest: str) -> dict[str, Any]:
        if self.protocol in ("s3", "s3a"):
            return {"Metadata": {"blake3": digest}}
        if self.protocol in ("gs", "gcs"):
            return {"metadata": {"blake3": digest}}
        return {}

    def read_verified(self, digest: str, stat_cache: StatCache | None = None,
                      size: int | None = None) -> bytes | mmap.mmap:
        """The blob's bytes; IntegrityError if they do not hash to ``digest``, ArtifactError if it is missing,
        not a regular file or not ``size`` bytes (the size recorded for it, when the caller knows it).

        Small blobs are hashed on every read. A large local blob (>= 16 MiB) is hashed on its first
        read and again whenever its stat identity (device, inode, size, mtime_ns, ctime_ns) changes —
        ``stat_cache`` vouches for it meanwhile, so a warm chain passing big arrays does not re-hash them;
        without a ``stat_cache`` (``verify="always"``) it is hashed on every read. Blobs on object stores
        are always hashed, and never read past ``size`` + 1 bytes.
        """
        path = self.path_for(digest)
        data: bytes | mmap.mmap
        st: os.stat_result | None = None
        try:
            if self.local:
                fd, st = self._open_blob(digest, path, size)
                try:
                    if st.st_size >= _TRUST_STAT_ABOVE:
                        # Map instead of copying: blobs are immutable (published by rename, removed by unlink).
                        import mmap  # here: a small blob (most hits) is read, not mapped

                        data = mmap.mmap(fd, st.st_size, access=mmap.ACCESS_READ)
                    else:
                        data = _read_fd(fd, st.st_size)  # a file still growing shows as one byte too many
                        if len(data) != st.st_size:
                            raise ArtifactError(f"artifact {digest} at {path} changed size while it was read")
                finally:
                    os.close(fd)
            elif size:  # never more than the recorded size + 1 (a ranged GET); 0 bytes cannot be ranged
                data = self.fs.cat_file(path, start=0, end=size + 1)
            else:
                data = self.fs.cat_file(path)  # one GET (open() would add a HEAD)
        except ArtifactError:
            raise
        except FileNotFoundError:
            raise ArtifactError(f"artifact {digest} is missing from {redact_url(self.url)}") from None
        except Exception as e:  # an unreadable blob is a miss, never a crash
            raise ArtifactError(f"artifact {digest} could not be read from {redact_url(self.url)}: {e}") from e
        if size is not None and len(data) != size:
            got = "longer" if len(data) > size else f"{len(data)} bytes"
            raise ArtifactError(f"artifact {digest} in {redact_url(self.url)} is {got}, not the {size} bytes "
                                "recorded for it")
        large = st is not None and stat_cache is not None and len(data) >= _TRUST_STAT_ABOVE
        if large:
            assert st is not None and stat_cache is not None
            known = stat_cache.get_many([path]).get(path)
            if known is not None and known == (StatKey.of(st), digest):
                return data
        actual = hash_bytes(memoryview(data))
        if actual != digest:
            raise IntegrityError(f"artifact {digest} failed verification (content hash {actual})")
        if large:
            assert st is not None and stat_cache is not None
            stat_cache.put_many([(path, StatKey.of(st), digest)])
        return data

    def _open_blob(self, digest: str, path: str, size: int | None) -> tuple[int, os.stat_result]:
        """A descriptor on a local blob that is a regular file (of ``size`` bytes when given), and its stat."""
        try:
            fd = os.open(path, _OPEN_BLOB)
        except FileNotFoundError:
            raise ArtifactError(f"artifact {digest} is missing from {redact_url(self.url)}") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ArtifactError(f"artifact {digest} at {path} is a symbolic link, not a stored blob: "
                                    "refusing to read it") from None
            raise ArtifactError(f"artifact {digest} could not be opened at {path}: {e.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat_mod.S_ISREG(st.st_mode):
                raise ArtifactError(f"artifact {digest} at {path} is not a regular file ({_kind(st.st_mode)}): "
                                    "refusing to read it")
            if size is not None and st.st_size != size:
                raise ArtifactError(f"artifact {digest} at {path} is {st.st_size} bytes, not the {size} bytes "
                                    "recorded for it")
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    def verify_blob(self, digest: str, size: int | None = None,
                    progress: Callable[[int], None] | None = None) -> str | None:
        """Re-hash a stored blob by streaming it (bounded memory, never past ``size`` + 1 bytes, no stat
        trusted): None when it is sound, else what is wrong with it. ``progress(n)`` follows the bytes read."""
        hasher = StreamingHasher()
        try:
            with self.open_blob(digest, size) as f:
                for chunk in chunks(f, size):
                    hasher.update(chunk)
                    if progress is not None:
                        progress(len(chunk))
        except ArtifactError as e:
            return str(e)
        except Exception as e:  # noqa: BLE001 - an unreadable blob is a finding, not a crash
            return f"artifact {digest} could not be read from {redact_url(self.url)}: {e}"
        if size is not None and hasher.size != size:
            got = "longer" if hasher.size > size else f"{hasher.size} bytes"
            return f"artifact {digest} in {redact_url(self.url)} is {got}, not the {size} bytes recorded for it"
        actual = hasher.hexdigest()
        return None if actual == digest else f"artifact {digest} failed verification (content hash {actual})"

    @contextlib.contextmanager
    def open_blob(self, digest: str, size: int | None = None) -> Iterator[IO[bytes]]:
        """A stored blob as a file to stream, checked as every read is: a local blob must be a regular file
        (no symlink followed, no FIFO blocked on) of ``size`` bytes when given; ArtifactError otherwise."""
        if self.local:
            fd, _ = self._open_blob(digest, self.path_for(digest), size)
            with os.fdopen(fd, "rb") as f:
                yield f
            return
        try:
            f = self.fs.open(self.path_for(digest), "rb")
        except FileNotFoundError:
            raise ArtifactError(f"artifact {digest} is missing from {redact_url(self.url)}") from None
        with f:
            yield f

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.path_for(digest)))

    def check_writable(self) -> None:
        tmp = self.new_temp_path()
        try:
            with open(tmp, "wb") as f:
                f.write(b"ok")
            rec = self.publish(tmp)
            self.read_verified(rec.hash)
        finally:
            _silent_unlink(tmp)

    def info(self) -> dict[str, Any]:
        return {"url": redact_url(self.url), "protocol": self.protocol}


def chunks(f: IO[bytes], size: int | None, chunk: int = _CHUNK) -> Iterator[bytes]:
    """The bytes of ``f`` in chunks, never more than ``size`` + 1 in all (one more shows that it grew)."""
    limit = None if size is None else size + 1
    done = 0
    while limit is None or done < limit:
        data = f.read(chunk if limit is None else min(chunk, limit - done))
        if not data:
            return
        done += len(data)
        yield data


def _kind(mode: int) -> str:
    for test, name in ((stat_mod.S_ISDIR, "a directory"), (stat_mod.S_ISFIFO, "a FIFO"),
                       (stat_mod.S_ISCHR, "a character device"), (stat_mod.S_ISBLK, "a block device"),
                       (stat_mod.S_ISSOCK, "a socket"), (stat_mod.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return f"mode {mode:o}"


def _read_fd(fd: int, size: int) -> bytes:
    """The bytes of a file expected to hold ``size``, never more than ``size`` + 1 (one more shows it grew): plain
    reads, no file object (a small blob's hit is a handful of system calls). A regular file gives what is asked in
    one read up to its end, so a read that brings ``size`` bytes is the end; a short one is read on from."""
    data = os.read(fd, size + 1)
    if len(data) >= size or not data:
        return data
    parts, got = [data], len(data)
    while got <= size and (more := os.read(fd, size + 1 - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _silent_unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


