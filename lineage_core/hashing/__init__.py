"""Content identity: bytes, files, directories (``content``) and Python values (``values``)."""

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
from .remote import Uri, hash_uri
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
