"""Materializers: how a step's return value becomes bytes in the artifact store and back.

Each has a ``name`` and ``version`` (both part of the key's ``outputs`` component, so changing the
format invalidates entries), ``can_save``, ``save(value, path) -> meta`` and ``load(buf, meta, ctx)``.
A value must come back equal and of the same type: the JSON materializer refuses anything that does
not round-trip exactly (tuples, int dict keys, NaN), and pickle is used only when the step opts in.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeAlias

from ..errors import MaterializerError
from ..hashing.content import FileEntry, directory_manifest, hash_bytes, hash_path, manifest_hash

if TYPE_CHECKING:
    import mmap

    from .artifacts import ArtifactStore

Buffer: TypeAlias = "bytes | mmap.mmap"  # verified blob bytes (large local blobs are memory-mapped)


class LoadContext(NamedTuple):
    scratch_dir: Path  # where Path outputs are restored when their original location is taken
    artifacts: ArtifactStore | None = None  # for values stored as several blobs (directory trees)
    destination: Path | None = None  # the client's choice of where a Path output is restored (else decided here)
    verified_hash: str | None = None  # the content hash the bytes were just verified against


class SaveContext(NamedTuple):
    artifacts: ArtifactStore  # where member blobs of a multi-blob value go (published in parallel)


class Materializer:
    name: ClassVar[str]
    version: ClassVar[int] = 1

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def can_save(self, value: Any) -> bool:
        raise NotImplementedError

    def save(self, value: Any, path: str, ctx: SaveContext) -> dict[str, Any]:
        raise NotImplementedError

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        raise NotImplementedError


class BytesMaterializer(Materializer):
    name = "bytes"

    def can_save(self, value: Any) -> bool:
        return type(value) in (bytes, bytearray)

    def save(self, value: Any, path: str, ctx: SaveContext) -> dict[str, Any]:
        Path(path).write_bytes(value)
        return {"type": type(value).__name__}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        return bytearray(buf) if meta.get("type") == "bytearray" else bytes(buf)


class StrMaterializer(Materializer):
    name = "str"

    def can_save(self, value: Any) -> bool:
        return type(value) is str

    def save(self, value: Any, path: str, ctx: SaveContext) -> dict[str, Any]:
        Path(path).write_bytes(value.encode("utf-8", "surrogatepass"))
        return {}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        return bytes(buf).decode("utf-8", "surrogatepass")


def _exact_json(value: Any) -> bool:
    t = type(value)
    if value is None or t in (bool, int, str):
        return True
    if t is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if t is list:
        return all(_exact_json(v) for v in value)
    if t is dict:
        return all(type(k) is str and _exact_json(v) for k, v in value.items())
    return False


class JsonMaterializer(Materializer):
    name = "json"

    def can_save(self, value: Any) -> bool:
        return _exact_json(value)

    def save(self, value: Any, path: str, ctx: SaveContext) -> dict[str, Any]:
        Path(path).write_bytes(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        return {}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        return json.loads(bytes(buf))


class NumpyMaterializer(Materializer):
    """``.npy`` format; loading is zero-copy over the verified (immutable) bytes: a read-only array."""

    name = "numpy"

    def can_save(self, value: Any) -> bool:
        np = sys.modules.get("numpy")
        return np is not None and type(value) is np.ndarray and not value.dtype.hasobject

    def save(self, value: Any, path: str, ctx: SaveContext) -> dict[str, Any]:
        import numpy as np

        with open(path, "wb") as f:
            np.save(f, value, allow_pickle=False)
        return {"dtype": value.dtype.str, "shape": list(value.shape)}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        import numpy as np
        from numpy.lib import format as npformat

        f = io.BytesIO(memoryview(buf)[:4096])  # header only; the data stays where it is
        major, _minor = npformat.read_magic(f)
        reader = npformat.read_array_header_1_0 if major == 1 else npformat.read_array_header_2_0
        shape, fortran, dtype = reader(f)
        arr = np.frombuffer(buf, dtype=dtype, offset=f.tell())
        return arr.reshape(shape, order="F" if fortran else "C")


class PandasMaterializer(Materializer):
    name = "pandas-parquet"

    def can_save(self, value: Any) -> bool:
        pd = sys.modules.get("pandas")
        return pd is not None and type(value) is pd.DataFrame

    def save(self, value: Any, path: str, ctx: SaveContext) -> dict[str, Any]:
        try:
            value.to_parquet(path, engine="pyarrow")
        except ImportError as e:
            raise MaterializerError(f"storing a DataFrame needs pyarrow: pip install pyarrow ({e})") from e
        columns, dtypes = [str(c) for c in value.columns], [str(t) for t in value.dtypes]
        return {"columns": columns, "dtypes": dtypes, "rows": len(value)}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(buf), engine="pyarrow")


class PathMaterializer(Materializer):
    """A file or a directory tree the step wrote.

    A file is one blob. A directory is a manifest blob (relative path -> blob hash, executable bit)
    plus one content-addressed blob per file, uploaded and downloaded in parallel; identical files are
    stored once across every tree. A hit restores under the reading client's own directory
    (``$LINEAGE_HOME/materialized/<content>/<name>``, or where the step says), never at a location named by the
    entry; the call that stored the value gets back the path it returned.
    """

    name = "path"
    version = 2

    def can_save(self, value: Any) -> bool:
        return isinstance(value, os.PathLike) and os.path.exists(value)

    def save(self, value: Any, path: str, ctx: SaveContext) -> dict[str, Any]:
        src = Path(value).resolve()
        meta: dict[str, Any] = {"original": str(src), "name": src.name}
        if src.is_file():
            shutil.copyfile(src, path)
            return {**meta, "kind": "file", "content_hash": hash_path(src)}
        entries = directory_manifest(src)
        records = ctx.artifacts.publish_files([str(src / e.relpath) for e in entries])
        if [r.hash for r in records] != [e.hash for e in entries]:
            raise MaterializerError(f"{src} changed while it was being stored")
        files = [[e.relpath, e.hash, e.executable] for e in entries]
        Path(path).write_bytes(json.dumps({"name": src.name, "files": files}, separators=(",", ":")).encode())
        return {**meta, "kind": "tree", "content_hash": manifest_hash(entries),
                "members": sorted({e.hash for e in entries})}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        """Restore where the client says (``ctx.destination``), else under its scratch directory — never where
        the entry's metadata says: an entry is written by whoever holds a token. What is compared and
        restored comes from the verified blob, not from the metadata."""
        tree = meta.get("kind") != "file"
        manifest = json.loads(bytes(buf)) if tree else None
        expected = (manifest_hash(FileEntry(r, h, bool(x)) for r, h, x in manifest["files"]) if manifest
                    else ctx.verified_hash or hash_bytes(memoryview(buf)))
        dest = ctx.destination or ctx.scratch_dir / expected.partition(":")[2][:16] / _safe_name(meta.get("name"))
        if dest.exists() and hash_path(dest) == expected:
            return dest
        if manifest is None:
            replace_atomically(dest, lambda tmp: tmp.write_bytes(bytes(buf)))
        else:
            replace_atomically(dest, lambda tmp: self._restore_tree(manifest, tmp, ctx))
        return dest

    def _restore_tree(self, manifest: dict[str, Any], staging: Path, ctx: LoadContext) -> None:
        if ctx.artifacts is None:
            raise MaterializerError("restoring a directory needs the artifact store")
        staging.mkdir(parents=True)
        files = manifest["files"]
        blobs = ctx.artifacts.read_many(sorted({h for _, h, _ in files}))
        for relpath, digest, executable in files:
            target = staging / relpath
            if not target.resolve().is_relative_to(staging.resolve()):
                raise MaterializerError(f"refusing to restore {relpath!r} outside the output directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bytes(blobs[digest]))
            if executable:
                target.chmod(target.stat().st_mode | 0o111)


class PickleMaterializer(Materializer):
    """Only for steps that opt in (``pickle=True``): pickle is neither portable nor safe to load from
    an untrusted store. The blob is still content-verified before it is unpickled."""

    name = "pickle"

    def can_save(self, value: Any) -> bool:
        return True

    def save(self, value: Any, path: str, ctx: SaveContext) -> dict[str, Any]:
        import pickle  # only for a value that opted in to it

        with open(path, "wb") as f:
            pickle.dump(value, f, protocol=5)
        return {"type": f"{type(value).__module__}.{type(value).__qualname__}"}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        import pickle

        return pickle.loads(buf)  # noqa: S301 - opted in, content hash verified


BUILTIN: tuple[Materializer, ...] = (
    BytesMaterializer(),
    StrMaterializer(),
    JsonMaterializer(),
    NumpyMaterializer(),
    PandasMaterializer(),
    PathMaterializer(),
)
PICKLE = PickleMaterializer()
_REGISTERED: list[Materializer] = []
_BY_ID: dict[str, Materializer] = {m.id: m for m in [*BUILTIN, PICKLE]}


def register_materializer(materializer: Materializer) -> None:
    """Add a materializer; registered ones are tried before the built-ins.

    Registering one does not change any key (the key names the built-in set): an entry records the
    exact ``name@version`` that stored it, and an entry whose materializer is not registered in the
    reading process, or has another version there, is a miss.
    """
    _REGISTERED.insert(0, materializer)
    _BY_ID[materializer.id] = materializer


def materializer_for(value: Any, allow_pickle: bool, step: str) -> Materializer:
    for m in (*_REGISTERED, *BUILTIN):
        if m.can_save(value):
            return m
    if allow_pickle:
        return PICKLE
    t = type(value)
    raise MaterializerError(
        f"step {step!r} returned a {t.__module__}.{t.__qualname__}, which no materializer stores "
        "exactly: return bytes/str/JSON/numpy/pandas/Path, register a materializer, or opt in "
        "with @cached(pickle=True)"
    )


def materializer_by_id(mid: str, allow_pickle: bool = False) -> Materializer:
    """The materializer that may load an entry stored by ``mid`` — decided by the reading client, never by
    the entry: a built-in or one registered in this process, and pickle only for a step that opted in."""
    m = _BY_ID.get(mid)
    if m is PICKLE and not allow_pickle:
        raise MaterializerError(f"the entry claims materializer {mid!r}, but this step did not opt in to pickle "
                                "(@cached(pickle=True)); refusing to unpickle what the store says")
    if m is None:
        raise MaterializerError(f"the entry claims materializer {mid!r}, which is not registered in this process "
                                "(is its package imported?)")
    return m


def _safe_name(name: Any) -> str:
    """A restored path's last component: one plain name, whatever the entry's metadata says."""
    text = os.path.basename(str(name or "")) if isinstance(name, str) else ""
    return text if text not in ("", ".", "..") and "\0" not in text else "value"


def replace_atomically(target: Path, make: Callable[[Path], object]) -> None:
    """Build ``target`` at a temporary name beside it with ``make(tmp)``, then move it into place: a reader sees
    the old file or tree or the whole new one, never a partial one (also after a crash mid-restore)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.lineage-partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        make(tmp)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
