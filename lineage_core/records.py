"""Dataclasses whose methods are written once, here, instead of generated for each class at import.

Python 3.11's ``@dataclass`` writes each method it generates (``__init__``, ``__repr__``, ``__eq__``, and for a
frozen class ``__hash__``, ``__setattr__``, ``__delattr__``) as source text and compiles it when the class is
defined: ~0.9 ms a frozen class in a fresh process on our 2-core machines. Every fresh task process (a KFP pod, an
Airflow worker that starts a process per task) defines the public records a hit builds, so it paid ~4 ms of a
cold hit for them, before the first byte of work.

:func:`record` keeps them dataclasses: ``fields``, ``asdict``, ``replace``, ``is_dataclass``, ``__match_args__``
and pickling behave as before. The class writes its ``__init__`` itself (compiled with its module, into the
bytecode cache); ``__eq__``, ``__hash__``, ``__repr__`` and the frozen guards are the functions below, shared by
every record and reading the class's fields. ``tests/test_records.py`` holds each record to what ``@dataclass``
would generate for it, and fails when an ``__init__`` and the fields it sets disagree.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T", bound=type)


def _names(cls: type, keep: Callable[[dataclasses.Field[Any]], bool]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if keep(f))


def _methods(cls: Any, frozen: bool) -> dict[str, Any]:
    """The methods ``@dataclass`` would generate for ``cls`` (all but ``__init__``), as closures over its fields:
    made, not compiled. Like the generated ones, they read ``cls``'s own fields, not a subclass's."""
    compared, shown = _names(cls, lambda f: f.compare), _names(cls, lambda f: f.repr)
    hashed = _names(cls, lambda f: f.compare if f.hash is None else f.hash)
    fields = frozenset(_names(cls, lambda f: True))

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return tuple([getattr(self, n) for n in compared]) == tuple([getattr(other, n) for n in compared])
        return NotImplemented

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def __hash__(self: Any) -> int:
        return hash(tuple([getattr(self, n) for n in hashed]))

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if self.__class__ is cls or name in fields:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if self.__class__ is cls or name in fields:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    if not frozen:  # as for a dataclass with eq and not frozen: unhashable
        return {"__eq__": __eq__, "__repr__": __repr__, "__hash__": None}
    return {"__eq__": __eq__, "__repr__": __repr__, "__hash__": __hash__, "__setattr__": __setattr__,
            "__delattr__": __delattr__}


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: T | None = None, /, *, frozen: bool = True) -> Any:
    """``@dataclass(frozen=frozen)`` for a class that writes its own ``__init__`` (a TypeError if it does not):
    the same dataclass, with none of its methods compiled at import. A method the class defines is kept."""

    def wrap(cls: T) -> T:
        if "__init__" not in cls.__dict__:
            raise TypeError(f"@record class {cls.__qualname__} must write its own __init__")
        dataclasses.dataclass(init=False, repr=False, eq=False)(cls)  # the same class, its fields processed
        for name, method in _methods(cls, frozen).items():
            if cls.__dict__.get(name) is None:  # not written by the class (a body's __eq__ sets __hash__ None)
                type.__setattr__(cls, name, method)
        return cls

    return wrap if cls is None else wrap(cls)
