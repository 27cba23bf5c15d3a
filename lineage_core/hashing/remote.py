"""Content identity of remote inputs (``s3://``, ``gs://``, any fsspec URL) we did not write.

An object store's ETag is not a content hash (multipart uploads give ``<md5 of md5s>-N``, encryption
and copies change it), so (size, ETag, VersionId/generation) is used only as a **change detector**:
while it is unchanged the blake3 we computed earlier is reused without downloading anything; when it
changes we stream the object once and hash it. A prefix hashes as a manifest of its objects, exactly
like a local directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from .content import HASH_SCHEMA, FileEntry, StreamingHasher, manifest_hash

_CHUNK = 8 << 20


@dataclass(frozen=True, slots=True)
class Uri:
    """A remote (or local) location an input comes from, hashed by the content behind it.

    ``@cached def train(data: Uri): ...; train(Uri("s3://bucket/train.parquet"))``
    """

    uri: str

    def __str__(self) -> str:
        return self.uri


class RemoteStat(NamedTuple):
    """What must be unchanged for a cached remote object's hash to stay valid: its size, ETag and version."""

    size: int
    etag: str
    version: str

    @classmethod
    def of(cls, info: dict[str, Any]) -> RemoteStat:
        etag = str(info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("crc32c") or "")
        version = str(info.get("VersionId") or info.get("generation") or info.get("mtime") or "")
        return cls(int(info.get("size") or 0), etag.strip('"'), "" if version == "None" else version)


class RemoteStatCache(Protocol):
    def get_remote(self, uris: Sequence[str]) -> dict[str, tuple[RemoteStat, str]]: ...

    def put_remote(self, rows: Sequence[tuple[str, RemoteStat, str]]) -> None: ...


def _stream_hash(fs: Any, path: str) -> str:
    hasher = StreamingHasher()
    with fs.open(path, "rb", block_size=_CHUNK) as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def hash_uri(uri: str, cache: RemoteStatCache | None = None) -> str:
    """blake3 of the object (or of the manifest of the objects under a prefix) at ``uri``."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(uri)
    fs.invalidate_cache(path)  # listings may be cached by the fsspec instance; we want the truth now
    info = fs.info(path)
    if info.get("type") == "directory":
        found = fs.find(path, detail=True)
        files = sorted((p, i) for p, i in found.items() if i.get("type") != "directory")
        digests = _hash_objects(fs, [(fs.unstrip_protocol(p), p, i) for p, i in files], cache)
        base = path.rstrip("/") + "/"
        return manifest_hash(FileEntry(p[len(base):], d, False) for (p, _), d in zip(files, digests, strict=True))
    return _hash_objects(fs, [(fs.unstrip_protocol(path), path, info)], cache)[0]


def _hash_objects(fs: Any, objs: list[tuple[str, str, dict[str, Any]]], cache: RemoteStatCache | None) -> list[str]:
    known = cache.get_remote([u for u, _, _ in objs]) if cache is not None else {}
    out: list[str] = []
    fresh: list[tuple[str, RemoteStat, str]] = []
    for uri, path, info in objs:
        stat = RemoteStat.of(info)
        hit = known.get(uri)
        if hit is not None and hit[0] == stat and stat.etag:
            out.append(hit[1])
            continue
        digest = _stream_hash(fs, path)
        out.append(digest)
        fresh.append((uri, stat, digest))
    if fresh and cache is not None:
        cache.put_remote(fresh)
    return out


__all__ = ["HASH_SCHEMA", "RemoteStat", "Uri", "hash_uri"]
