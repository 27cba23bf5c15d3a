"""Content identity: bytes, files, directories (``content``), remote objects (``remote``) and Python values
(``values``).

``Uri`` and ``hash_uri`` are imported on first use: a value can be a ``Uri`` only once :mod:`.remote` is imported,
so the value hasher looks for it in ``sys.modules`` and a fresh process's hit with no remote input never imports it.
"""

from typing import TYPE_CHECKING, Any

from .content import (
    HASH_SCHEMA,
    MemoryStatCache,
    StatCache,
    StatKey,
    StreamingHasher,
    hash_bytes,
    hash_directory,
    hash_file,
    hash_files,
    hash_path,
)
from .values import hash_value, ndarray_hash, register_hasher, remember_array_hash

__all__ = [
    "HASH_SCHEMA",
    "MemoryStatCache",
    "StatCache",
    "StatKey",
    "StreamingHasher",
    "Uri",
    "hash_bytes",
    "hash_directory",
    "hash_file",
    "hash_files",
    "hash_path",
    "hash_uri",
    "hash_value",
    "ndarray_hash",
    "register_hasher",
    "remember_array_hash",
]

if TYPE_CHECKING:
    from .remote import Uri, hash_uri


def __getattr__(name: str) -> Any:
    if name in ("Uri", "hash_uri"):
        from . import remote

        return getattr(remote, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
