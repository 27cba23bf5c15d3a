"""What a stored value may be: the names, ids and JSON both backends hold and index as they are. Ingest checks
every event with these, and the server's request models (server/validation.py) check what they take with the same
ones, so an event and a request are held to one rule.

Why these limits: PostgreSQL refuses an index row over 2,704 bytes (a job<->dataset edge is keyed by two namespaces
and two names), its text holds no NUL, UTF-8 has no lone surrogate, and both backends' integers are 64-bit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

MAX_NAME = 1023  # bytes of UTF-8: a name of 1,024 characters or more is refused
MAX_NAMESPACE = 255  # bytes of UTF-8; an edge's key (two of each) stays within PostgreSQL's 2,704-byte index row
MAX_VERSION = 255  # a dataset version (its column holds 255)
MAX_DEPTH = 100  # JSON nesting: far beyond any facet, well inside what encoders and the reader recurse through
INT64 = (-(1 << 63), (1 << 63) - 1)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # C0, DEL, C1, lone surrogates
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # PostgreSQL text holds no NUL; UTF-8 has no lone surrogate


def plain_text(value: str) -> str:
    """A name or id: no control character (C0, DEL, C1) and no lone surrogate; raises ValueError."""
    bad = _CONTROL.search(value)
    if bad:
        char = bad.group()
        what = "a lone surrogate" if "\ud800" <= char <= "\udfff" else f"control character U+{ord(char):04X}"
        raise ValueError(f"contains {what} at position {bad.start()}")
    return value


def check_name(value: str, max_bytes: int = MAX_NAME) -> str:
    """A name both backends hold and index: :func:`plain_text`, at most ``max_bytes`` of UTF-8; raises ValueError."""
    if len(plain_text(value).encode("utf-8")) > max_bytes:
        raise ValueError(f"is longer than {max_bytes} bytes of UTF-8")
    return value


def _within(max_bytes: int) -> Callable[[str], str]:
    def fits(value: str) -> str:
        if not value.isascii() and len(value.encode("utf-8")) > max_bytes:  # ASCII: max_length said it all
            raise ValueError(f"is longer than {max_bytes} bytes of UTF-8")
        return value

    return fits


# The constraints run in pydantic-core (max_length first: a 9 MB name is refused on its length alone); only a
# non-ASCII name is encoded to count its bytes. A lone surrogate never gets here: check_json refused it.
_NO_CONTROL = "^[^\x00-\x1f\x7f-\x9f]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=_NO_CONTROL),
                 AfterValidator(_within(MAX_NAME))]
Namespace = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAMESPACE, pattern=_NO_CONTROL),
                      AfterValidator(_within(MAX_NAMESPACE))]


def check_json(value: Any) -> None:
    """Raise ValueError naming the first part of a parsed JSON value that a store cannot hold as it is: a NUL or
    a lone surrogate in a string or key, an integer beyond 64 bits, a number that is not finite, nesting
    deeper than :data:`MAX_DEPTH`. Iterative (a hostile depth is an error, never a RecursionError), and the
    strings are searched once, joined: this runs on every body the server takes."""
    strings: list[str] = []
    keep = strings.append
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[Any]
        if type(node) is dict:
            strings.extend(node)  # the keys (a key that is not a string is not JSON: refused below)
            children = node.values()
        elif type(node) is list:
            children = node
        else:  # a scalar at the top
            children, depth = (node,), depth - 1
        if depth >= MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        for v in children:
            t = type(v)
            if t is str:
                keep(v)
            elif t is dict or t is list:
                stack.append((v, depth + 1))
            elif t is int:
                if not INT64[0] <= v <= INT64[1]:
                    raise ValueError(f"integer {str(v)[:30]}… is outside the signed 64-bit range")
            elif t is float:
                if not math.isfinite(v):
                    raise ValueError("numbers must be finite (no NaN, Infinity or overflowing exponents)")
            elif v is not None and t is not bool:
                raise ValueError(f"{t.__name__} is not a JSON value")
    bad = _UNSTORABLE.search("".join(strings))
    if bad:
        raise ValueError("a string contains " + ("a NUL character (\\u0000)" if bad.group() == "\x00"
                                                 else "a lone surrogate (not Unicode text)"))
