"""The syntax of user code as its fingerprint needs it (:func:`def_shape`, :func:`module_shape`), kept per source
file in ``LINEAGE_HOME/cache`` under the file's identity: a process-per-task worker then parses its DAG file once
per change, not on every task.

A shape holds only what the source text decides: the digest of a ``def``'s (or a module's) normalised AST, and the
references in it (attribute chains and imports) in the order a walk of the tree finds them. What those name (a
helper, a constant's value, a module) is looked up live on every fingerprint (:mod:`lineage_core.code`), so a
constant computed at import (from the environment, the clock) counts as it is now, never as it was when the shape
was kept.

The identity is the file's stat-cache key (device, inode, size, mtime_ns, ctime_ns), taken before its source is
read and again after: a shape is kept only when both agree and the file has settled
(:func:`lineage_core.home_cache.settled`). A record also names the Python that made it (``ast`` differs between
versions) and :data:`SCHEMA`, bumped with any change to what a shape holds or to how it is normalised. The records
are trusted as the embedded store's own files beside them are: ``LINEAGE_HOME`` belongs to its user (a directory
shared between pods is the blob cache, whose content is verified).
"""

from __future__ import annotations

import ast
import inspect
import linecache
import os
import stat
import sys
import textwrap
import threading
import time
import types
from collections.abc import Callable
from importlib.util import decode_source
from pathlib import Path
from typing import Any

import blake3

from . import home_cache
from .hashing.content import StatKey, tag

SCHEMA = 1
# A reference: ["c", name, attr, ...] an attribute chain (``np.linalg.norm``, or a bare name); ["i", module, ...]
# an ``import``; ["f", level, module] a ``from ... import`` (``module`` "" for ``from . import x``).
Ref = list[Any]
Shape = tuple[str, list[Ref]]  # (digest of the normalised AST, references)

_read: dict[str, tuple[StatKey, dict[str, Any]]] = {}  # path -> (identity, shapes) of the record read or written


def _normalise(node: ast.AST) -> str:
    """AST dump without docstrings, decorators or positions: formatting never counts."""
    for n in ast.walk(node):
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            n.decorator_list = []
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = n.body
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and type(first.value.value) is str:
                n.body = body[1:] or [ast.Pass()]
    return ast.dump(node, annotate_fields=False, include_attributes=False)


_PARSE_LOCK = threading.Lock()


def _parse(source: str) -> ast.Module:
    """``ast.parse``, one thread at a time: CPython 3.11's AST converter keeps its recursion depth in shared state,
    and two threads fingerprinting at once can fail with "AST constructor recursion depth mismatch"."""
    with _PARSE_LOCK:
        return ast.parse(source)


def _digest(node: ast.AST) -> str:
    return tag(blake3.blake3(_normalise(node).encode()).hexdigest())


def _refs(node: ast.AST) -> list[Ref]:
    """What ``node`` references, in the order a walk finds it: imports, and attribute chains (``a.b.c`` once, not
    its prefix ``a`` again). Syntax only: :mod:`lineage_core.code` resolves them."""
    refs: list[Ref] = []
    inner: set[int] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.ImportFrom):
            refs.append(["f", n.level, n.module or ""])
            continue
        if isinstance(n, ast.Import):
            refs.append(["i", *(a.name for a in n.names)])
            continue
        if id(n) in inner:
            continue
        chain = _attr_chain(n)
        if not chain:
            continue
        sub = n
        while isinstance(sub, ast.Attribute):
            sub = sub.value
            inner.add(id(sub))
        refs.append(["c", *chain])
    return refs


def def_shape(fn: types.FunctionType) -> Shape | None:
    """The shape of a function's ``def`` in its source file (its references, then the digest without docstrings or
    decorators), kept on disk per file; None when the file has no single such ``def``."""
    try:
        file = inspect.getsourcefile(fn)
    except TypeError:
        return None
    if not file or fn.__name__ == "<lambda>":
        return None

    def derive(source: str | None) -> Shape | None:
        node = _function_ast(fn, source if source is not None else _cached_source(file, fn.__globals__))
        if node is None:
            return None
        refs = _refs(node)  # before the digest: normalising drops the decorators, whose references count
        return _digest(node), refs

    return _through_record(file, f"def {fn.__name__} {fn.__code__.co_firstlineno}", derive)


def module_shape(module: types.ModuleType) -> Shape | None:
    """The shape of a whole user module (its digest, then the references left after normalising), kept on disk
    like a ``def``'s."""
    try:
        file = inspect.getsourcefile(module)
    except TypeError:
        file = None

    def derive(source: str | None) -> Shape | None:
        if source == "":
            return None  # as inspect finds no source in an empty file (an empty __init__.py adds no part)
        node = _fallback_ast(module) if source is None else _top_node(source)
        if node is None:
            return None
        digest = _digest(node)  # first: a module's references are those left after normalising
        return digest, _refs(node)

    return _through_record(file, "module", derive)


def _through_record(file: str | None, what: str, derive: Callable[[str | None], Shape | None]) -> Shape | None:
    """The shape of ``what`` in ``file``: the one kept under the file's identity now, else ``derive``'s from the
    file read now (kept), or from ``None`` when there is no regular file to read (``derive`` then finds the source
    as inspect does, and nothing is kept)."""
    ident = identity(file) if file else None
    if file is None or ident is None:
        return derive(None)
    kept = lookup(file, ident, what)
    if kept is not None:
        return kept
    source = _read_source(file)  # what is kept comes from the file read now, never from linecache
    shape = derive(source)
    if shape is not None and source is not None:
        keep(file, ident, what, shape)
    return shape


def _read_source(file: str) -> str | None:
    """The file's source as Python decodes it (its coding declaration, universal newlines), read now: linecache
    could hold what an earlier read in this process saw, which must never be kept under today's identity."""
    try:
        with open(file, "rb") as f:
            return decode_source(f.read())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None


def _cached_source(file: str, module_globals: dict[str, Any]) -> str:
    """The source as inspect finds it (linecache; a loader's for a module not on disk)."""
    linecache.checkcache(file)  # as inspect.findsource: a file changed since it was read is read again
    return "".join(linecache.getlines(file, module_globals))


def _function_ast(fn: types.FunctionType, source: str) -> ast.AST | None:
    """A function's ``def``, found by its first line in its module's parsed ``source``: the node parsing
    ``inspect.getsource(fn)`` gives, without inspect's tokenizer (compiling its patterns costs a fresh process
    5-10 ms). None when there is no single such ``def`` (lambdas, exec'd code): then inspect finds the source."""
    if not source:
        return None
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError):
        return None
    first, name = fn.__code__.co_firstlineno, fn.__name__
    found = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
             and min([n.lineno, *(d.lineno for d in n.decorator_list)]) == first]
    return found[0] if len(found) == 1 else None


def source_shape(obj: Any) -> Shape | None:
    """The shape of what inspect finds as ``obj``'s source (a class, a lambda, a ``def`` not found by its line):
    derived every time, never kept (no line or file identity names it)."""
    node = _fallback_ast(obj)
    if node is None:
        return None
    refs = _refs(node)  # before the digest, as a def's
    return _digest(node), refs


def _fallback_ast(obj: Any) -> ast.AST | None:
    """The node of what inspect finds as ``obj``'s source (a class, a module, a lambda, a ``def`` not found by
    its line)."""
    try:
        return _top_node(inspect.getsource(obj))
    except (OSError, TypeError):
        return None


def _top_node(source: str) -> ast.AST | None:
    """The one statement ``source`` holds, else the whole module (dedented first: a method's source is indented)."""
    try:
        tree = _parse(textwrap.dedent(source))
    except SyntaxError:  # e.g. a lambda inside a larger expression
        return None
    return tree.body[0] if len(tree.body) == 1 else tree


def _attr_chain(n: ast.AST) -> list[str]:
    chain: list[str] = []
    while isinstance(n, ast.Attribute):
        chain.append(n.attr)
        n = n.value
    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
        chain.append(n.id)
        return chain[::-1]
    return []


def identity(path: str) -> StatKey | None:
    """The file's identity (the stat cache's); None when it is not a regular file (nothing is kept for it then)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return StatKey.of(st) if stat.S_ISREG(st.st_mode) else None


def lookup(path: str, ident: StatKey, what: str) -> Shape | None:
    """The shape of ``what`` (``def name line``, ``module``) in the file as it is now (``ident``), if kept."""
    found = _shapes(path, ident).get(what)
    if found is None or not _valid(found):
        return None
    return found[0], found[1]


def keep(path: str, before: StatKey, what: str, shape: Shape) -> None:
    """Keep ``shape``, derived from the source read while the file had identity ``before``: only when the file
    still has it and has settled."""
    if identity(path) != before or not home_cache.settled(before.mtime_ns, before.ctime_ns, time.time_ns()):
        return
    shapes = _shapes(path, before)
    on_disk = home_cache.read_record(_record_path(path))  # what other processes kept meanwhile (other defs)
    if _current(on_disk, before):
        shapes.update({k: v for k, v in on_disk["shapes"].items() if k not in shapes})
    shapes[what] = [shape[0], shape[1]]
    home_cache.write_record(_record_path(path), {"identity": list(before), "python": sys.version, "schema": SCHEMA,
                                                 "shapes": shapes})


def _record_path(path: str) -> Path:
    return home_cache.record_path("code", os.path.abspath(path))


def _current(record: Any, ident: StatKey) -> bool:
    return (isinstance(record, dict) and record.get("identity") == list(ident) and record.get("python") == sys.version
            and record.get("schema") == SCHEMA and isinstance(record.get("shapes"), dict))


def _shapes(path: str, ident: StatKey) -> dict[str, Any]:
    """The shapes kept for the file with this identity (read once per process and identity)."""
    memo = _read.get(path)
    if memo is None or memo[0] != ident:
        record = home_cache.read_record(_record_path(path))
        memo = _read[path] = (ident, dict(record["shapes"]) if _current(record, ident) else {})
    return memo[1]


def _valid(found: Any) -> bool:
    """A well-formed shape (a record is JSON that anything could have left there: malformed means not kept)."""
    if not (isinstance(found, list | tuple) and len(found) == 2 and isinstance(found[0], str)
            and isinstance(found[1], list)):
        return False
    for ref in found[1]:
        if not isinstance(ref, list) or not ref:
            return False
        kind, rest = ref[0], ref[1:]
        if kind in ("c", "i"):
            if not rest or not all(isinstance(x, str) for x in rest):
                return False
        elif kind == "f":
            if not (len(rest) == 2 and type(rest[0]) is int and rest[0] >= 0 and isinstance(rest[1], str)):
                return False
        else:
            return False
    return True
