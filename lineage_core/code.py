"""Code fingerprint of a step: its normalised AST plus the user code it reaches.

Formatting, comments, blank lines, docstrings and decorator lines do not change the fingerprint
(ZenML #3880: adding ``enable_cache=True`` to a decorator broke every key); any change to what the
code does does. Helpers and classes the step references from the user's own modules (not the
standard library, not site-packages) are included transitively, and so are module-level constants it
reads (ZenML #1011: editing a helper served a stale hit). The external packages it reaches are
collected on the way, for the ``env="imports"`` policy. A module that an installed distribution owns
is a package wherever it is installed (``pip install --target DIR`` + ``PYTHONPATH``, as images and
layers do): it is keyed by its distribution's version, not fingerprinted as user code.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import os
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import blake3

from .errors import ConfigError
from .hashing.content import StatCache, hash_files, tag
from .hashing.values import hash_value

_CONSTANT_TYPES = (int, float, str, bytes, bool, type(None))


class CodeFingerprint(NamedTuple):
    """``hash`` over ``parts``: qualified name -> hash of each piece of code (and file dep)."""

    hash: str
    parts: dict[str, str]
    external_modules: frozenset[str] = frozenset()


def _system_roots() -> tuple[str, ...]:
    """The standard library (where ``os`` lives; its extension modules are below it), the site-packages on
    ``sys.path`` and lineage_core. Not ``sysconfig.get_paths()``: it costs a fresh process ~0.6 ms, and a root it
    alone would add could only make code count as the user's (keyed, never wrongly ignored); the packages
    installed elsewhere are found by their distributions (``_distribution_roots``)."""
    roots = {os.path.dirname(os.__file__)}
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    roots.add(os.path.dirname(os.path.abspath(__file__)))  # lineage_core itself is not user code
    return tuple(os.path.realpath(r) + os.sep for r in roots)


_SYSTEM_ROOTS = _system_roots()


def is_user_module(module: types.ModuleType | None) -> bool:
    """True for modules the user wrote: they have a file outside the stdlib and site-packages, and no
    installed distribution owns them."""
    if module is None:
        return False
    f = getattr(module, "__file__", None)
    if not f:
        return module.__name__ == "__main__"
    real = os.path.realpath(f)
    if real.startswith(_SYSTEM_ROOTS):
        return False
    top = module.__name__.partition(".")[0]
    return not any(real.startswith(root) and top in owned for root, owned in _distribution_roots())


@functools.cache
def _distribution_roots() -> tuple[tuple[str, frozenset[str]], ...]:
    """(sys.path entry + os.sep, the top-level names its distributions own) for each entry outside the
    system roots that holds installed distributions (``*.dist-info``): a ``--target`` directory, a layer."""
    roots = []
    for entry in dict.fromkeys(os.path.realpath(p or os.getcwd()) for p in sys.path):
        root = entry + os.sep
        if root.startswith(_SYSTEM_ROOTS) or not os.path.isdir(entry):
            continue
        try:
            if not any(n.endswith(".dist-info") for n in os.listdir(entry)):
                continue
        except OSError:
            continue
        from importlib.metadata import distributions  # only where distributions are (~15 ms to import)

        owned: set[str] = set()
        for dist in distributions(path=[entry]):
            owned.update((dist.read_text("top_level.txt") or "").split())
            for f in dist.files or ():
                first = f.parts[0] if f.parts else ""
                if first and first != ".." and not first.endswith((".dist-info", ".data", ".pth")):
                    owned.add(first.removesuffix(".py"))
        roots.append((root, frozenset(owned)))
    return tuple(roots)


def _module_file(module: types.ModuleType | None) -> str:
    if module is None:
        return "?"
    f = getattr(module, "__file__", None)
    if module.__name__ == "__main__" or not f:
        return os.path.basename(f) if f else module.__name__
    return module.__name__.replace(".", "/") + (".py" if not f.endswith("__init__.py") else "/__init__.py")


def code_part_name(obj: Any, module: types.ModuleType | None) -> str:
    """Human-readable name of a piece of code, as miss explanations print it."""
    qual = getattr(obj, "__qualname__", getattr(obj, "__name__", "?"))
    kind = f"class {qual}" if isinstance(obj, type) else f"{qual}()"
    return f"{kind} in {_module_file(module)}"


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


def _function_ast(fn: types.FunctionType) -> ast.AST | None:
    """A function's ``def``, found by its first line in its module's parsed source: the node parsing
    ``inspect.getsource(fn)`` gives, without inspect's tokenizer (compiling its patterns costs a fresh process
    5-10 ms). None when there is no single such ``def`` (lambdas, exec'd code): then inspect finds the source."""
    try:
        file = inspect.getsourcefile(fn)
    except TypeError:
        return None
    if not file or fn.__name__ == "<lambda>":
        return None
    linecache.checkcache(file)  # as inspect.findsource: a file changed since it was read is read again
    lines = linecache.getlines(file, fn.__globals__)
    if not lines:
        return None
    try:
        tree = _parse("".join(lines))
    except (SyntaxError, ValueError):
        return None
    first, name = fn.__code__.co_firstlineno, fn.__name__
    found = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
             and min([n.lineno, *(d.lineno for d in n.decorator_list)]) == first]
    return found[0] if len(found) == 1 else None


def _source_ast(obj: Any) -> ast.AST | None:
    if isinstance(obj, types.FunctionType):
        node = _function_ast(obj)
        if node is not None:
            return node
    try:
        src = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return None
    try:
        tree = _parse(src)
    except SyntaxError:  # e.g. a lambda inside a larger expression
        return None
    return tree.body[0] if len(tree.body) == 1 else tree


def _bytecode_digest(code: types.CodeType) -> str:
    """Fallback when no source exists (REPL, exec): bytecode, constants and names, recursively."""
    h = blake3.blake3(code.co_code)
    for c in code.co_consts:
        h.update(_bytecode_digest(c).encode() if isinstance(c, types.CodeType) else repr(c).encode())
    h.update(repr(code.co_names).encode())
    return tag(h.hexdigest())


def _unwrap(obj: Any) -> Any:
    while hasattr(obj, "__wrapped__"):
        obj = obj.__wrapped__
    return obj


class _Walker:
    def __init__(self) -> None:
        self.parts: dict[str, str] = {}
        self.external: set[str] = set()
        self._seen: set[int] = set()
        self._current = "?"

    def visit(self, obj: Any) -> None:
        obj = _unwrap(obj)
        if id(obj) in self._seen:
            return
        self._seen.add(id(obj))
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        if isinstance(obj, types.FunctionType | type) and is_user_module(module):
            self._visit_code(obj, module)
        elif isinstance(obj, types.ModuleType):
            if is_user_module(obj):
                self._visit_module(obj)
            else:
                self.external.add(obj.__name__.partition(".")[0])
        elif module is not None and not is_user_module(module):
            self.external.add(module.__name__.partition(".")[0])

    def _name(self, obj: Any, module: types.ModuleType | None) -> str:
        return code_part_name(obj, module)

    def _visit_code(self, obj: Any, module: types.ModuleType | None) -> None:
        node = _source_ast(obj)
        name = self._name(obj, module)
        self._current = _module_file(module)
        if node is None:
            code = getattr(obj, "__code__", None)
            self.parts[name] = _bytecode_digest(code) if code else hash_value(obj.__qualname__)
            return
        self._follow(node, getattr(obj, "__globals__", None) or vars(module or types.ModuleType("x")), obj)
        self.parts[name] = tag(blake3.blake3(_normalise(node).encode()).hexdigest())

    def _visit_module(self, module: types.ModuleType) -> None:
        node = _source_ast(module)
        if node is None:
            return
        self.parts[f"module {_module_file(module)}"] = tag(blake3.blake3(_normalise(node).encode()).hexdigest())
        self._current = _module_file(module)
        self._follow(node, vars(module), None)

    def _follow(self, node: ast.AST, scope: dict[str, Any], obj: Any) -> None:
        """Visit what ``node`` references: globals, closure cells, attributes of modules, imports."""
        closure: dict[str, Any] = {}
        if isinstance(obj, types.FunctionType) and obj.__closure__:
            for cell_name, cell in zip(obj.__code__.co_freevars, obj.__closure__, strict=False):
                try:
                    closure[cell_name] = cell.cell_contents
                except ValueError:
                    continue
        here = self._current
        inner: set[int] = set()  # `a.b.c` is one reference: don't visit its prefix `a` again
        for n in ast.walk(node):
            self._current = here  # visiting a helper moves it; globals belong to this module
            if isinstance(n, ast.Import | ast.ImportFrom):
                self._visit_import(n, scope)
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
            root = chain[0]
            if root in closure:
                target = closure[root]
            elif root in scope:
                target = scope[root]
            else:
                continue
            self._visit_ref(root, target, chain[1:])

    def _visit_ref(self, name: str, target: Any, attrs: list[str]) -> None:
        for a in attrs:  # `prep.normalise` -> the function, `np.linalg.norm` -> numpy
            if not isinstance(target, types.ModuleType):
                break
            nxt = getattr(target, a, None)
            if nxt is None:
                break
            target = nxt
        if isinstance(target, _CONSTANT_TYPES) or (
            isinstance(target, tuple | frozenset) and all(isinstance(x, _CONSTANT_TYPES) for x in target)
        ):
            self.parts[f"global {name} in {self._current}"] = hash_value(target, name)
        elif isinstance(target, types.FunctionType | type | types.ModuleType) or hasattr(target, "__wrapped__"):
            self.visit(target)

    def _visit_import(self, n: ast.Import | ast.ImportFrom, scope: dict[str, Any]) -> None:
        if isinstance(n, ast.ImportFrom):
            if n.level:  # relative import inside a user package: resolve through the module
                pkg = scope.get("__package__") or ""
                base = pkg.rsplit(".", n.level - 1)[0] if n.level > 1 else pkg
                name = f"{base}.{n.module}" if n.module else base
            else:
                name = n.module or ""
            names = [name]
        else:
            names = [a.name for a in n.names]
        for name in names:
            mod = sys.modules.get(name)
            if mod is not None:
                self.visit(mod)
            elif name:
                self.external.add(name.partition(".")[0])


def _attr_chain(n: ast.AST) -> list[str]:
    chain: list[str] = []
    while isinstance(n, ast.Attribute):
        chain.append(n.attr)
        n = n.value
    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
        chain.append(n.id)
        return chain[::-1]
    return []


def fingerprint_code(fn: Callable[..., Any], code_deps: Iterable[Any] = ()) -> CodeFingerprint:
    """Fingerprint ``fn`` and everything it reaches in user code, plus declared ``code_deps``."""
    walker = _Walker()
    walker.visit(fn)
    for dep in code_deps:
        walker.visit(dep)
        if isinstance(dep, types.ModuleType) and not is_user_module(dep):
            walker.parts[f"module {dep.__name__}"] = hash_value(getattr(dep, "__version__", dep.__name__))
    return _finish(walker.parts, frozenset(walker.external))


def _finish(parts: dict[str, str], external: frozenset[str]) -> CodeFingerprint:
    h = blake3.blake3()
    for k in sorted(parts):
        h.update(f"{k}\0{parts[k]}\n".encode())
    return CodeFingerprint(tag(h.hexdigest()), dict(sorted(parts.items())), external)


def hash_file_deps(
    patterns: Iterable[str], base_dir: str, cache: StatCache | None = None
) -> dict[str, str]:
    """``file:<relpath>`` -> content hash for every file matched by the globs (relative to base_dir)."""
    import glob  # here: only a step with file_deps globs

    matched: dict[str, str] = {}
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else os.path.join(base_dir, pattern)
        hits = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
        if not hits:
            raise ConfigError(f"file_deps pattern {pattern!r} matches no file (looked in {base_dir})")
        for p in hits:
            matched[os.path.abspath(p)] = os.path.relpath(p, base_dir)
    paths = sorted(matched)
    digests = hash_files(paths, cache)
    return {f"file {matched[p]}": d for p, d in zip(paths, digests, strict=True)}


def with_file_deps(fp: CodeFingerprint, files: dict[str, str]) -> CodeFingerprint:
    if not files:
        return fp
    return _finish({**fp.parts, **files}, fp.external_modules)
