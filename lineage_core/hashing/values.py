"""Canonical, type-tagged hashing of Python values.

Every value is encoded as a tag plus length-delimited payload and fed to blake3, so ``"ab" + "c"``
never collides with ``"a" + "bc"``, ``1`` never equals ``1.0`` or ``True``, and a dict's key order
never matters. We never use ``str()``, ``repr()`` or pickle (Prefect's cloudpickle fallback makes keys
differ between processes); a type we do not understand raises :class:`UnhashableInputError`.

Extension points, most specific first: :func:`register_hasher` (type -> bytes), a
``__lineage_hash__(self) -> bytes | str`` method on the user's type.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import struct
import sys
import weakref
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

import blake3

from ..errors import UnhashableInputError
from .content import StatCache, hash_path, tag

_Hasher = Any  # blake3.blake3 (no public type)
_REGISTRY: dict[type, Callable[[Any], bytes | str]] = {}


def register_hasher(typ: type, fn: Callable[[Any], bytes | str]) -> None:
    """Teach the key how to hash ``typ``: ``fn(value)`` returns canonical bytes (or a string)."""
    _REGISTRY[typ] = fn


class _Unhashable(Exception):
    def __init__(self, where: str, type_name: str, detail: str = "") -> None:
        self.where, self.type_name, self.detail = where, type_name, detail


def _qualname(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def _len(n: int) -> bytes:
    return struct.pack(">Q", n)


class _Encoder:
    __slots__ = ("cache", "h")

    def __init__(self, h: _Hasher, cache: StatCache | None) -> None:
        self.h = h
        self.cache = cache

    def bytes_(self, t: bytes, payload: bytes | memoryview) -> None:
        self.h.update(t + _len(len(payload)))
        self.h.update(payload)

    def str_(self, t: bytes, s: str) -> None:
        self.bytes_(t, s.encode("utf-8", "surrogatepass"))

    def encode(self, v: Any, where: str) -> None:
        t = type(v)
        if v is None:
            self.h.update(b"N")
        elif t is bool:
            self.h.update(b"T" if v else b"F")
        elif t is int:
            self.str_(b"i", str(v))
        elif t is float:
            self.h.update(b"f" + (b"nan" if math.isnan(v) else struct.pack(">d", v)))
        elif t is str:
            self.str_(b"s", v)
        elif t is bytes or t is bytearray:
            self.bytes_(b"b", bytes(v))
        elif t in _REGISTRY:
            self._custom(v, where, _REGISTRY[t])
        elif t is list or t is tuple:
            self.h.update((b"l" if t is list else b"t") + _len(len(v)))
            for i, item in enumerate(v):
                self.encode(item, f"{where}[{i}]")
        elif t is dict:
            self._mapping(b"d", v, where)
        elif t is set or t is frozenset:
            self._unordered(b"S", v, where)
        else:
            self._other(v, t, where)

    def _sub(self, v: Any, where: str) -> bytes:
        h = blake3.blake3()
        _Encoder(h, self.cache).encode(v, where)
        return h.digest()

    def _mapping(self, t: bytes, v: dict[Any, Any], where: str) -> None:
        items = sorted((self._sub(k, f"{where}.<key>"), k, val) for k, val in v.items())
        self.h.update(t + _len(len(items)))
        for kd, k, val in items:
            self.h.update(kd)
            self.encode(val, f"{where}[{k!r}]" if isinstance(k, str | int) else f"{where}[...]")

    def _unordered(self, t: bytes, v: Any, where: str) -> None:
        digests = sorted(self._sub(x, f"{where}{{...}}") for x in v)
        self.h.update(t + _len(len(digests)) + b"".join(digests))

    def _custom(self, v: Any, where: str, fn: Callable[[Any], bytes | str]) -> None:
        out = fn(v)
        payload = out.encode() if isinstance(out, str) else bytes(out)
        self.str_(b"U", _qualname(type(v)))
        self.bytes_(b"u", payload)

    def _other(self, v: Any, t: type, where: str) -> None:
        remote = sys.modules.get("lineage_core.hashing.remote")  # a Uri means it is imported: never imported here
        if remote is not None and t is remote.Uri:  # by the content behind it (before the dataclass rule)
            remote_cache = self.cache if hasattr(self.cache, "get_remote") else None
            return self.str_(b"r", remote.hash_uri(v.uri, remote_cache))
        for base in t.__mro__[1:]:
            if base in _REGISTRY:
                return self._custom(v, where, _REGISTRY[base])
        if hasattr(v, "__lineage_hash__"):
            return self._custom(v, where, lambda x: x.__lineage_hash__())
        if isinstance(v, enum.Enum):
            self.str_(b"E", _qualname(t))
            return self.encode(v.value, f"{where}.value")
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            self.str_(b"D", _qualname(t))
            fields = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
            return self._mapping(b"d", fields, where)
        if _is_pydantic(v):
            self.str_(b"P", _qualname(t))
            return self._mapping(b"d", dict(v), where)
        dt = sys.modules.get("datetime")  # a date value means datetime is loaded: never imported for the check
        if dt is not None and isinstance(v, dt.datetime):
            return self.str_(b"W", v.isoformat())
        if dt is not None and isinstance(v, dt.date):
            return self.str_(b"Y", v.isoformat())
        if dt is not None and isinstance(v, dt.timedelta):
            return self.str_(b"Z", repr((v.days, v.seconds, v.microseconds)))
        if isinstance(v, PurePath):
            return self._path(v)
        if isinstance(v, bool | int | float | str | bytes | list | tuple | dict | set | frozenset):
            return self._subclass_of_builtin(v, t, where)
        np = sys.modules.get("numpy")
        if np is not None and isinstance(v, np.ndarray | np.generic):
            return self._ndarray(np, v, where)
        pd = sys.modules.get("pandas")
        if pd is not None and isinstance(v, pd.DataFrame | pd.Series):
            return self._pandas(pd, v, where)
        raise _Unhashable(where, _qualname(t))

    def _subclass_of_builtin(self, v: Any, t: type, where: str) -> None:
        base: Any
        # e.g. a NamedTuple or an IntEnum-less int subclass: tag with the type, encode as its base
        self.str_(b"B", _qualname(t))
        for base in (bool, int, float, str, bytes, tuple, list, dict, frozenset, set):
            if isinstance(v, base):
                return self.encode(base(v), where)

    def _path(self, p: PurePath) -> None:
        s = os.fspath(p)
        if os.path.exists(s):
            self.str_(b"p", hash_path(s, self.cache))
        else:  # a path that does not exist yet (an output location) counts by its name
            self.str_(b"q", os.path.abspath(s))

    def _ndarray(self, np: Any, a: Any, where: str) -> None:
        a = np.asarray(a)
        known = _known_array_hash(a)
        if known is not None:
            self.str_(b"a", known)
            return
        self.str_(b"a", ndarray_hash(a, where))

    def _pandas(self, pd: Any, v: Any, where: str) -> None:
        frame = v.to_frame() if isinstance(v, pd.Series) else v
        self.str_(b"G" if isinstance(v, pd.Series) else b"F", type(v).__name__)
        self.h.update(_len(frame.shape[0]) + _len(frame.shape[1]))
        self._index(pd, frame.index, f"{where}.index")
        self._index(pd, frame.columns, f"{where}.columns")
        for i in range(frame.shape[1]):
            self._column(pd, frame.iloc[:, i], f"{where}.iloc[:, {i}]")

    def _index(self, pd: Any, idx: Any, where: str) -> None:
        if isinstance(idx, pd.RangeIndex):
            self.h.update(b"R" + _len(idx.start) + _len(idx.stop) + _len(idx.step & 0xFFFFFFFF))
        else:
            self._column(pd, pd.Series(idx), where)

    def _column(self, pd: Any, s: Any, where: str) -> None:
        self.str_(b"c", str(s.dtype))
        np = sys.modules["numpy"]
        if s.dtype.kind in "biufcmM" and isinstance(s.dtype, np.dtype):
            self.str_(b"a", ndarray_hash(s.to_numpy(), where))
        else:
            self.encode([None if _isna(pd, x) else x for x in s.tolist()], where)


def _isna(pd: Any, x: Any) -> bool:
    try:
        return x is not None and not isinstance(x, list | tuple | dict) and bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _is_pydantic(v: Any) -> bool:
    pyd = sys.modules.get("pydantic")
    return pyd is not None and isinstance(v, pyd.BaseModel)


# ndarrays that came out of a cached step are frozen (read-only) and remembered with their hash, so a
# chain of steps passing a large array never re-hashes it.
_ARRAY_HASHES: dict[int, tuple[weakref.ref[Any], str]] = {}


def remember_array_hash(a: Any, digest: str, trusted: bool = False) -> None:
    """Record the hash of a read-only array nobody else can write (it owns its memory, or
    ``trusted``: we loaded it over a buffer only it references)."""
    if a.flags.writeable or not (trusted or a.flags.owndata or _base_is_readonly(a)):
        return
    key = id(a)

    def _forget(_ref: Any, key: int = key) -> None:
        _ARRAY_HASHES.pop(key, None)

    _ARRAY_HASHES[key] = (weakref.ref(a, _forget), digest)


def _base_is_readonly(a: Any) -> bool:
    base: Any = a.base
    return base is not None and isinstance(base, bytes | memoryview | type(a)) and not getattr(
        getattr(base, "flags", None), "writeable", False
    )


def _known_array_hash(a: Any) -> str | None:
    entry = _ARRAY_HASHES.get(id(a))
    if entry is None or id(entry[0]()) != id(a) or a.flags.writeable:
        return None
    return entry[1]


def ndarray_hash(a: Any, where: str = "value") -> str:
    """Hash of an ndarray's dtype, shape and C-order content bytes (object arrays are refused)."""
    np = sys.modules["numpy"]
    a = np.asarray(a)
    if a.dtype.hasobject:
        raise _Unhashable(where, "numpy.ndarray[object]", "object arrays have no canonical bytes")
    h = blake3.blake3(max_threads=blake3.blake3.AUTO) if a.nbytes >= 1 << 20 else blake3.blake3()
    h.update(b"ndarray\0" + a.dtype.str.encode() + b"\0" + repr(a.shape).encode() + b"\0")
    c = np.ascontiguousarray(a)
    h.update(memoryview(c).cast("B") if c.nbytes else b"")
    return tag(h.hexdigest())


def hash_value(value: Any, name: str = "value", cache: StatCache | None = None) -> str:
    """``blake3:<hex>`` of a value's canonical encoding; raises UnhashableInputError naming ``name``."""
    h = blake3.blake3()
    try:
        _Encoder(h, cache).encode(value, name)
    except _Unhashable as e:
        raise UnhashableInputError(name, e.type_name, "" if e.where == name else f"at {e.where}") from None
    return tag(h.hexdigest())
