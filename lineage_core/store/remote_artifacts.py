"""The lineage server's blobs as an artifact store: what :class:`~.remote.RemoteStore` reads and writes artifacts
through. Nothing the server (or anything between, or a shared cache directory) sends is trusted: every read is
hashed here against the digest it was asked for, and bounded by the recorded size."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, cast

from ..errors import ArtifactError, ConfigError, IntegrityError, StoreError
from ..hashing.content import StatCache, StreamingHasher, hash_bytes, hash_stream_file
from ..redact import redact_url
from .artifacts import ArtifactRecord, ArtifactStore, chunks
from .blob_cache import BlobCache

if TYPE_CHECKING:
    import mmap

    from .http_client import ServerClient

__all__ = ["RemoteArtifacts"]

_CHUNK = 1 << 20
_INLINE_KEPT = 64  # blobs sent inline with a hit, kept until the hit reads them (a few KiB each)


class RemoteArtifacts(ArtifactStore):
    """Blobs kept by the server. URIs name where the server stores them (its own artifact store), so events
    and references say the same whichever side built them.

    Reads try, in order: the bytes a hit's answer carried inline (small blobs), the node-local verified blob cache
    (:mod:`.blob_cache`), a download (which fills the cache). Every one of them is verified against the digest here.
    """

    def __init__(self, client: ServerClient, root_uri: str | None, cache: BlobCache | None = None,
                 describe: Callable[[], dict[str, Any]] | None = None) -> None:
        """``root_uri``: where the server keeps its blobs; None: not known yet, learnt from the first hit's answer
        (:meth:`learn_root`) or else from ``describe`` (the server's store info) when first needed."""
        # no super(): there is no filesystem here
        self.client = client
        self.url = client.url
        self._root = root_uri.rstrip("/") if root_uri is not None else None
        self._describe = describe
        self.protocol = client.url.split("://", 1)[0]
        self.local = False
        self.cache = cache
        self._scratch = tempfile.gettempdir()
        if cache is not None:  # scratch beside the cache: an upload then moves into it (a rename)
            with contextlib.suppress(OSError):
                os.makedirs(cache.root / "tmp", exist_ok=True)
                self._scratch = str(cache.root / "tmp")
        self._inline: OrderedDict[str, bytes] = OrderedDict()
        self._inline_lock = threading.Lock()

    @property
    def root(self) -> str:
        if self._root is None:
            if self._describe is None:
                raise ConfigError(f"lineage server {redact_url(self.url)}: where it keeps its artifacts is not known")
            self.learn_root(str(self._describe()["artifacts"]))
        return str(self._root)

    @root.setter
    def root(self, root_uri: str) -> None:
        self._root = root_uri.rstrip("/")

    def learn_root(self, root_uri: str) -> None:
        """The root a hit's answer named, unless this store knows it already."""
        if self._root is None:
            self.root = root_uri

    @property
    def root_uri(self) -> str:
        return self.root

    def uri_for(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return f"{self.root}/blobs/{hexd[:2]}/{hexd}"

    def publish(self, tmp_path: str, digest: str | None = None) -> ArtifactRecord:
        try:
            record = self._upload(tmp_path, digest)
            self._keep(tmp_path, record)
            return record
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)

    def publish_file(self, src: str) -> ArtifactRecord:
        return self._upload(src, None)

    def _upload(self, src: str, digest: str | None) -> ArtifactRecord:
        """One PUT under the content hash; the server checks the bytes against it before keeping them."""
        digest = digest or hash_stream_file(src)
        size = os.path.getsize(src)
        try:
            with open(src, "rb") as f:
                self.client.call("PUT", f"/blobs/{digest}", data=f)
        except StoreError as e:
            raise ArtifactError(f"could not upload artifact {digest}: {e}") from None
        return ArtifactRecord(digest, self.uri_for(digest), size)

    def _keep(self, tmp_path: str, record: ArtifactRecord) -> None:
        """An uploaded scratch file goes into the blob cache too (the next task on this node reads it there):
        copied through a :class:`~.blob_cache.Fill`, so it is hashed again on the way and published by rename."""
        if self.cache is None:
            return
        with contextlib.suppress(OSError, IntegrityError), open(tmp_path, "rb") as f, \
                self.cache.filling(record.hash, record.size) as fill:
            if fill is not None:
                for chunk in chunks(f, record.size, _CHUNK):
                    fill.write(chunk)
                fill.publish(None)

    def remember_inline(self, digest: str, data: bytes) -> None:
        """Bytes a hit's answer carried for ``digest``: the next read of it uses them (and verifies them)."""
        with self._inline_lock:
            self._inline[digest] = data
            while len(self._inline) > _INLINE_KEPT:
                self._inline.popitem(last=False)

    def read_verified(self, digest: str, stat_cache: StatCache | None = None,
                      size: int | None = None) -> bytes | mmap.mmap:
        """What the server (or anything between, or the shared cache directory) holds is not trusted: the bytes are
        hashed here, and no more than the recorded ``size`` + 1 bytes are read (a server streaming without end is a
        miss). A large cached blob whose stat identity this process recorded is not hashed again (``stat_cache``,
        absent under ``verify="always"``)."""
        with self._inline_lock:
            inline = self._inline.pop(digest, None)
        if inline is not None:
            self._check_size(digest, len(inline), size)
            actual = hash_bytes(inline)
            if actual != digest:
                raise IntegrityError(f"artifact {digest} failed verification (content hash {actual})")
            return inline
        if self.cache is not None:
            found = self.cache.get(digest, size, stat_cache)
            if found is not None:
                return found.data
            with self.cache.filling(digest, size) as fill:
                return self._download(digest, size, fill, stat_cache)
        return self._download(digest, size, None, None)

    def _download(self, digest: str, size: int | None, fill: Any, stat_cache: StatCache | None) -> bytes:
        hasher = fill.hasher if fill is not None else StreamingHasher()
        parts = []
        try:
            with self.open_blob(digest, size) as f:
                for chunk in chunks(f, size, _CHUNK):
                    if fill is not None:
                        fill.write(chunk)
                    else:
                        hasher.update(chunk)
                    parts.append(chunk)
        except ArtifactError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken transfer is a miss, never a crash
            raise ArtifactError(f"artifact {digest} could not be read: {e}") from None
        self._check_size(digest, hasher.size, size)
        actual = hasher.hexdigest()
        if actual != digest:
            raise IntegrityError(f"artifact {digest} failed verification (content hash {actual})")
        if fill is not None:
            fill.publish(stat_cache)
        return b"".join(parts)

    def _check_size(self, digest: str, got: int, size: int | None) -> None:
        if size is not None and got != size:
            what = "longer" if got > size else f"{got} bytes"
            raise ArtifactError(f"artifact {digest} from lineage server {redact_url(self.url)} is {what}, not the "
                                f"{size} bytes recorded for it")

    @contextlib.contextmanager
    def open_blob(self, digest: str, size: int | None = None) -> Iterator[IO[bytes]]:
        try:
            r = self.client.call("GET", f"/blobs/{digest}", ok=(200, 404), stream=True)
        except (StoreError, ConfigError) as e:
            raise ArtifactError(f"artifact {digest} could not be read: {e}") from None
        with r:
            if r.status_code == 404:
                r.content = r.raw.read(64 << 10)
                raise ArtifactError(f"artifact {digest} is missing from lineage server {redact_url(self.url)}")
            yield cast("IO[bytes]", r.raw)  # the body, read with read(n) (store.wire.Response)

    def exists(self, digest: str) -> bool:
        return self.client.call("HEAD", f"/blobs/{digest}", ok=(200, 404)).status_code == 200

    def info(self) -> dict[str, Any]:
        return {"url": redact_url(self.url), "protocol": self.protocol, "root": redact_url(self.root)}
