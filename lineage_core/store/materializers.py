"""Materializers: how a step's return value becomes bytes in the artifact store and back.

Each has a ``name`` and ``version`` (both part of the key's ``outputs`` component, so changing the
format invalidates entries), ``can_save``, ``save(value, path) -> meta`` and ``load(buf, meta, ctx)``.
A value must come back equal and of the same type: the JSON materializer refuses anything that does
not round-trip exactly (tuples, int dict keys, NaN), and pickle is used only when the step opts in.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import pickle
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

from ..errors import MaterializerError
from ..hashing.content import hash_path

Buffer: TypeAlias = "bytes | mmap.mmap"  # verified blob bytes (large local blobs are memory-mapped)


@dataclass(frozen=True)
class LoadContext:
    scratch_dir: Path  # where Path outputs are restored when their original location is taken


class Materializer:
    name: ClassVar[str]
    version: ClassVar[int] = 1

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def can_save(self, value: Any) -> bool:
        raise NotImplementedError

    def save(self, value: Any, path: str) -> dict[str, Any]:
        raise NotImplementedError

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        raise NotImplementedError


class BytesMaterializer(Materializer):
    name = "bytes"

    def can_save(self, value: Any) -> bool:
        return type(value) in (bytes, bytearray)

    def save(self, value: Any, path: str) -> dict[str, Any]:
        Path(path).write_bytes(value)
        return {"type": type(value).__name__}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        return bytearray(buf) if meta.get("type") == "bytearray" else bytes(buf)


class StrMaterializer(Materializer):
    name = "str"

    def can_save(self, value: Any) -> bool:
        return type(value) is str

    def save(self, value: Any, path: str) -> dict[str, Any]:
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

    def save(self, value: Any, path: str) -> dict[str, Any]:
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

    def save(self, value: Any, path: str) -> dict[str, Any]:
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

    def save(self, value: Any, path: str) -> dict[str, Any]:
        try:
            value.to_parquet(path, engine="pyarrow")
        except ImportError as e:
            raise MaterializerError(f"storing a DataFrame needs pyarrow: pip install pyarrow ({e})") from e
        return {"columns": [str(c) for c in value.columns], "rows": len(value)}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(buf), engine="pyarrow")


class PathMaterializer(Materializer):
    """A file or directory the step wrote. Stored as a deterministic tar (no mtimes, sorted)."""

    name = "path"

    def can_save(self, value: Any) -> bool:
        return isinstance(value, os.PathLike) and os.path.exists(value)

    def save(self, value: Any, path: str) -> dict[str, Any]:
        src = Path(value).resolve()
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            members = [src] if src.is_file() else [src, *sorted(src.rglob("*"))]
            for p in members:
                info = tar.gettarinfo(str(p), arcname=p.relative_to(src.parent).as_posix())
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if info.isreg():
                    with open(p, "rb") as fh:
                        tar.addfile(info, fh)
                elif info.isdir():
                    tar.addfile(info)
        return {"original": str(src), "name": src.name, "content_hash": hash_path(src)}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        original = Path(meta["original"])
        if original.exists() and hash_path(original) == meta["content_hash"]:
            return original
        dest_root = original.parent if not original.exists() else ctx.scratch_dir / meta["content_hash"][7:23]
        dest = dest_root / meta["name"]
        if dest.exists() and hash_path(dest) == meta["content_hash"]:
            return dest
        dest_root.mkdir(parents=True, exist_ok=True)
        staging = Path(str(dest) + ".lineage-partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(buf), mode="r") as tar:
            tar.extractall(staging, filter="data")
        os.replace(staging / meta["name"], dest)
        shutil.rmtree(staging, ignore_errors=True)
        return dest


class PickleMaterializer(Materializer):
    """Only for steps that opt in (``pickle=True``): pickle is neither portable nor safe to load from
    an untrusted store. The blob is still content-verified before it is unpickled."""

    name = "pickle"

    def can_save(self, value: Any) -> bool:
        return True

    def save(self, value: Any, path: str) -> dict[str, Any]:
        with open(path, "wb") as f:
            pickle.dump(value, f, protocol=5)
        return {"type": f"{type(value).__module__}.{type(value).__qualname__}"}

    def load(self, buf: Buffer, meta: dict[str, Any], ctx: LoadContext) -> Any:
        return pickle.loads(buf)  # noqa: S301 - opted in, content hash verified


_BUILTIN: list[Materializer] = [
    BytesMaterializer(),
    StrMaterializer(),
    JsonMaterializer(),
    NumpyMaterializer(),
    PandasMaterializer(),
    PathMaterializer(),
]
PICKLE = PickleMaterializer()
_BY_ID: dict[str, Materializer] = {m.id: m for m in [*_BUILTIN, PICKLE]}


def register_materializer(materializer: Materializer) -> None:
    """Add a materializer; registered ones are tried before the built-ins."""
    _BUILTIN.insert(0, materializer)
    _BY_ID[materializer.id] = materializer


def materializer_for(value: Any, allow_pickle: bool, step: str) -> Materializer:
    for m in _BUILTIN:
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


def materializer_by_id(mid: str) -> Materializer:
    try:
        return _BY_ID[mid]
    except KeyError:
        raise MaterializerError(f"unknown materializer {mid!r} (is its package imported?)") from None
