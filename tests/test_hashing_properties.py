"""Properties of the canonical value hash, over generated values (hypothesis)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from lineage_core.hashing import hash_value

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_hash_is_a_function_of_the_value(v: object) -> None:
    assert hash_value(v) == hash_value(v)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), scalars, min_size=2, max_size=8))
def test_dict_order_never_counts(d: dict[str, object]) -> None:
    assert hash_value(d) == hash_value(dict(reversed(list(d.items()))))


@settings(max_examples=300, deadline=None)
@given(values, values)
def test_different_json_values_hash_differently(a: object, b: object) -> None:
    """No collisions between values that differ (compared through a type-preserving dump)."""
    def canon(x: object) -> str:
        return json.dumps(x, default=lambda o: ["bytes", o.hex()] if isinstance(o, bytes) else repr(o),
                          sort_keys=True) + repr(_types(x))

    if canon(a) != canon(b):
        assert hash_value(a) != hash_value(b)


def _types(x: object) -> object:
    if isinstance(x, dict):
        return ("dict", sorted((k, _types(v)) for k, v in x.items()))
    if isinstance(x, list | tuple):
        return (type(x).__name__, [_types(v) for v in x])
    return (type(x).__name__, repr(x))
