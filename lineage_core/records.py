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
from typing import Any, NamedTuple, TypeVar, dataclass_transform

T = TypeVar("T", bound=type)


class _Plan(NamedTuple):
    """What the shared methods read of one record class, worked out once per class from its fields."""

    compared: tuple[str, ...]
    hashed: tuple[str, ...]
    shown: tuple[str, ...]
    names: frozenset[str]


def _plan(cls: type) -> _Plan:
    plan: _Plan | None = cls.__dict__.get("_record_plan")
    if plan is None:
        fields = dataclasses.fields(cls)
        plan = _Plan(tuple(f.name for f in fields if f.compare),
                     tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)),
                     tuple(f.name for f in fields if f.repr), frozenset(f.name for f in fields))
        type.__setattr__(cls, "_record_plan", plan)
    return plan


def _values(obj: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple([getattr(obj, n) for n in names])


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        names = _plan(self.__class__).compared
        return _values(self, names) == _values(other, names)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_values(self, _plan(self.__class__).hashed))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _plan(self.__class__).shown)
    return f"{self.__class__.__qualname__}({shown})"


def _frozen(cls: Any) -> tuple[Callable[..., None], Callable[..., None]]:
    """``__setattr__`` and ``__delattr__`` that refuse a field (and anything, on the record's own class), as the
    generated ones do; a subclass that is not a record may add attributes of its own."""

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if self.__class__ is cls or name in _plan(cls).names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if self.__class__ is cls or name in _plan(cls).names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return __setattr__, __delattr__


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: T | None = None, /, *, frozen: bool = True) -> Any:
    """``@dataclass(frozen=frozen)`` for a class that writes its own ``__init__`` (a TypeError if it does not):
    the same dataclass, with none of its methods compiled at import. A method the class defines is kept."""

    def wrap(cls: T) -> T:
        if "__init__" not in cls.__dict__:
            raise TypeError(f"@record class {cls.__qualname__} must write its own __init__")
        dataclasses.dataclass(init=False, repr=False, eq=False)(cls)  # the same class, its fields processed
        own = cls.__dict__
        methods: dict[str, Any] = {"__eq__": _eq, "__repr__": _repr}
        if frozen:
            methods["__hash__"] = _hash
            methods["__setattr__"], methods["__delattr__"] = _frozen(cls)
        elif own.get("__hash__", None) is None:
            methods["__hash__"] = None  # as for a dataclass with eq and not frozen: unhashable
        for name, method in methods.items():
            if name not in own or (name == "__hash__" and own[name] is None):
                type.__setattr__(cls, name, method)
        return cls

    return wrap if cls is None else wrap(cls)
