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

import functools
import os
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import blake3

from . import code_shapes
from .code_shapes import Ref
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


def _bytecode_digest(code: types.CodeType) -> str:
    """Fallback when no source exists (REPL, exec): bytecode, constants and names, recursively."""
    h = blake3.blake3(code.co_code)
    for c in code.co_consts:
        h.update(_bytecode_digest(c).encode() if isinstance(c, types.CodeType) else repr(c).encode())
    h.update(repr(code.co_names).encode())
    return tag(h.hexdigest())


def _unwrap(obj: Any) -> Any:
    seen = {id(obj)}
    while hasattr(obj, "__wrapped__") and id(obj.__wrapped__) not in seen:  # f.__wrapped__ = f must not hang
        obj = obj.__wrapped__
        seen.add(id(obj))
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
        shape = code_shapes.def_shape(obj) if isinstance(obj, types.FunctionType) else None
        if shape is None:
            shape = code_shapes.source_shape(obj)
        name = self._name(obj, module)
        self._current = _module_file(module)
        if shape is None:
            code = getattr(obj, "__code__", None)
            self.parts[name] = _bytecode_digest(code) if code else hash_value(obj.__qualname__)
            return
        self._follow(shape[1], getattr(obj, "__globals__", None) or vars(module or types.ModuleType("x")), obj)
        self.parts[name] = shape[0]

    def _visit_module(self, module: types.ModuleType) -> None:
        shape = code_shapes.module_shape(module)
        if shape is None:
            return
        self.parts[f"module {_module_file(module)}"] = shape[0]
        self._current = _module_file(module)
        self._follow(shape[1], vars(module), None)

    def _follow(self, refs: list[Ref], scope: dict[str, Any], obj: Any) -> None:
        """Visit what the code references (its shape's): globals, closure cells, attributes of modules, imports."""
        closure: dict[str, Any] = {}
        if isinstance(obj, types.FunctionType) and obj.__closure__:
            for cell_name, cell in zip(obj.__code__.co_freevars, obj.__closure__, strict=False):
                try:
                    closure[cell_name] = cell.cell_contents
                except ValueError:
                    continue
        here = self._current
        for ref in refs:
            self._current = here  # visiting a helper moves it; globals belong to this module
            if ref[0] != "c":
                self._visit_import(ref, scope)
                continue
            root, attrs = ref[1], ref[2:]
            if root in closure:
                target = closure[root]
            elif root in scope:
                target = scope[root]
            else:
                continue
            self._visit_ref(root, target, attrs)

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

    def _visit_import(self, ref: Ref, scope: dict[str, Any]) -> None:
        if ref[0] == "f":  # from ... import
            level, module = ref[1], ref[2]
            if level:  # relative import inside a user package: resolve through the module
                pkg = scope.get("__package__") or ""
                base = pkg.rsplit(".", level - 1)[0] if level > 1 else pkg
                name = f"{base}.{module}" if module else base
            else:
                name = module
            names = [name]
        else:
            names = ref[1:]
        for name in names:
            mod = sys.modules.get(name)
            if mod is not None:
                self.visit(mod)
            elif name:
                self.external.add(name.partition(".")[0])


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
