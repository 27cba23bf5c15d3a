"""Content-addressed artifact blobs on any fsspec filesystem.

A blob lives at ``<root>/blobs/<2 hex>/<hex>`` named by the blake3 of its bytes, so identical outputs
are stored once. Writes are atomic: bytes go to a temp file, are hashed, then published with a rename
(local) or a single put of the finished object (object stores); a reader never sees a partial blob.
Every read re-hashes what it read and raises :class:`IntegrityError` on a mismatch, so a corrupt or
truncated blob can never be served as a cache hit.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .. import settings
from ..errors import ArtifactError, ConfigError, IntegrityError
from ..hashing.content import StatCache, StatKey, hash_bytes, hash_stream_file
from ..redact import redact_url

_TRUST_STAT_ABOVE = 16 << 20
_TRANSFER_THREADS = 8


@dataclass(frozen=True)
class ArtifactRecord:
    hash: str
    uri: str
    size: int


class ArtifactStore:
    """Blobs under one fsspec URL (``file:///...`` by default; ``s3://``, ``gs://`` with their extras)."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        import fsspec
        from fsspec.core import url_to_fs

        self.url = url.rstrip("/")
        if options is None:
            options = dict(settings.Settings.current().artifacts_options)
        try:
            # fsspec caches one filesystem instance per (protocol, options): credentials and
            # connection pools are set up once per process, not per artifact (ZenML #3721).
            self.fs, root = url_to_fs(self.url, **options)
        except ImportError as e:
            extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs"}.get(self.url.split("://", 1)[0], "")
            hint = f" (pip install 'lineage-core[{extra}]')" if extra else ""
            raise ConfigError(f"cannot open artifact store {redact_url(url)}: {e}{hint}") from None
        except ValueError as e:
            raise ConfigError(f"cannot open artifact store {redact_url(url)}: {e}") from None
        self.root = root.rstrip("/")
        self.protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        self.local = isinstance(self.fs, fsspec.implementations.local.LocalFileSystem)
        self._scratch = os.path.join(self.root, "tmp") if self.local else tempfile.gettempdir()
        if self.local:
            os.makedirs(self._scratch, exist_ok=True)

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
        fd, path = tempfile.mkstemp(dir=self._scratch, suffix=suffix)
        os.close(fd)
        return path

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
                os.replace(tmp_path, final)
            else:
                # One PUT (or a completed multipart upload): object stores make the object visible
                # whole or not at all. Our content hash rides along as object metadata.
                self.fs.put_file(tmp_path, final, **self._metadata_kwargs(digest))
                os.unlink(tmp_path)
        except Exception as e:  # every backend failure becomes one typed error
            _silent_unlink(tmp_path)
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
        with ThreadPoolExecutor(_TRANSFER_THREADS) as pool:
            return list(pool.map(self.publish_file, srcs))

    def read_many(self, digests: list[str]) -> dict[str, bytes | mmap.mmap]:
        """Verified bytes of many blobs, fetched in parallel."""
        with ThreadPoolExecutor(_TRANSFER_THREADS) as pool:
            return dict(zip(digests, pool.map(self.read_verified, digests), strict=True))

    def _metadata_kwargs(self, digest: str) -> dict[str, Any]:
        if self.protocol in ("s3", "s3a"):
            return {"Metadata": {"blake3": digest}}
        if self.protocol in ("gs", "gcs"):
            return {"metadata": {"blake3": digest}}
        return {}

    def read_verified(self, digest: str, stat_cache: StatCache | None = None) -> bytes | mmap.mmap:
        """The blob's bytes; IntegrityError if they do not hash to ``digest``.

        Small blobs are hashed on every read. A large local blob (>= 16 MiB) is hashed on its first
        read and again whenever its (size, mtime_ns, inode) changes — the stat cache's contract, which
        catches any rewrite of the file — so a warm chain passing big arrays does not re-hash them.
        Blobs on object stores are always hashed.
        """
        path = self.path_for(digest)
        data: bytes | mmap.mmap
        st: os.stat_result | None = None
        try:
            if self.local:
                with open(path, "rb") as f:
                    st = os.fstat(f.fileno())
                    if st.st_size >= _TRUST_STAT_ABOVE:
                        # Map instead of copying: blobs are immutable (published by rename, removed by unlink).
                        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    else:
                        data = f.read()
            else:
                data = self.fs.cat_file(path)  # one GET (open() would add a HEAD)
        except FileNotFoundError:
            raise ArtifactError(f"artifact {digest} is missing from {redact_url(self.url)}") from None
        except Exception as e:  # an unreadable blob is a miss, never a crash
            raise ArtifactError(f"artifact {digest} could not be read from {redact_url(self.url)}: {e}") from e
        trusted = False
        if st is not None and stat_cache is not None and len(data) >= _TRUST_STAT_ABOVE:
            known = stat_cache.get_many([path]).get(path)
            trusted = known is not None and known == (StatKey.of(st), digest)
        if not trusted:
            actual = hash_bytes(memoryview(data))
            if actual != digest:
                raise IntegrityError(f"artifact {digest} failed verification (content hash {actual})")
            if st is not None and stat_cache is not None and len(data) >= _TRUST_STAT_ABOVE:
                stat_cache.put_many([(path, StatKey.of(st), digest)])
        return data

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


def _silent_unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


