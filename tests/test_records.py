"""Each :func:`lineage_core.records.record` class against what ``@dataclass`` generates for the same fields: its
written ``__init__`` takes exactly the fields (names, order, defaults), and equality, hashing, ``repr``, the frozen
guards, ``replace``, ``asdict``, pickling and ``__match_args__`` agree with the generated ones. Also that none of
its methods was compiled from generated source (the cost the module exists to avoid)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import pickle
from typing import Any

import pytest

from lineage_core.cache import Outcome
from lineage_core.environment import EnvironmentSnapshot
from lineage_core.keys import KEY_SCHEMA, KeyManifest
from lineage_core.records import record
from lineage_core.refs import ArtifactRef
from lineage_core.settings import Settings

# Two samples per record, every field different between them.
SAMPLES: dict[type, tuple[dict[str, Any], dict[str, Any]]] = {
    Settings: (
        dict(home="/tmp/a", store_url="sqlite:////tmp/a.db", artifacts_url="file:///tmp/art",
             artifacts_options={"anon": True}, namespace="ns", cache_mode="read", verify="always", disabled=True,
             store_token="t", wait_timeout=5.0, lease_ttl=2.0, spool_max_bytes=10, blob_cache="off",
             blob_cache_max_bytes=100, image_digest="sha256:" + "a" * 64, podinfo_image_file="/x",
             env_allowlist=["A*"], export_token="e", server_tokens=["s1"], server_token_file="/f",
             server_anonymous_read="lineage"),
        dict(home="/tmp/b", store_url="http://lineage:5000", artifacts_url="s3://bucket/x",
             artifacts_options={"anon": False}, namespace="other", cache_mode="off", verify="stat", disabled=False,
             store_token="u", wait_timeout=6.0, lease_ttl=3.0, spool_max_bytes=11, blob_cache="/tmp/bc",
             blob_cache_max_bytes=101, image_digest="sha256:" + "b" * 64, podinfo_image_file="/y",
             env_allowlist=["B*"], export_token="f", server_tokens=["s2"], server_token_file="/g",
             server_anonymous_read=None),
    ),
    ArtifactRef: (dict(uri="file:///a", hash="blake3:aa", materializer="json@1", key="k1", run_id="r1"),
                  dict(uri="file:///b", hash="blake3:bb", materializer="pickle@1", key="k2", run_id="r2")),
    KeyManifest: (dict(components={"step": "s"}, display={"x": "1"}, code_entry="c", schema=KEY_SCHEMA,
                       encoded={"step": '"s"'}),
                  dict(components={"step": "t"}, display={"x": "2"}, code_entry="d", schema=KEY_SCHEMA + 1,
                       encoded=None)),
    EnvironmentSnapshot: (
        dict(python="3.11.7", implementation="CPython", platform="Linux", machine="x86_64",
             packages={"numpy": "2.0"}, image_digest="sha256:" + "c" * 64, gpu={"count": 1}, git={"commit": "a"},
             env_vars={"TZ": "UTC"}),
        dict(python="3.12.1", implementation="PyPy", platform="Darwin", machine="arm64", packages={"numpy": "2.1"},
             image_digest=None, gpu={}, git={"commit": "b"}, env_vars={}),
    ),
    Outcome: (dict(hit=True, run_id="r1", key="k1", reasons=["a"], source_run_id="s1", job="j1"),
              dict(hit=False, run_id="r2", key="k2", reasons=["b"], source_run_id=None, job="j2")),
}
FROZEN = {Settings, ArtifactRef, KeyManifest}
RECORDS = pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)


@functools.cache
def reference(cls: type) -> type:
    """The class ``@dataclass`` generates from ``cls``'s fields (every method generated)."""
    spec = [(f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory,
                                                repr=f.repr, hash=f.hash, compare=f.compare))
            for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=cls in FROZEN)


def both(cls: type, values: dict[str, Any]) -> tuple[Any, Any]:
    """The record built from ``values``, and the reference built from the record's (normalised) fields."""
    ours = cls(**values)
    return ours, reference(cls)(**{f.name: getattr(ours, f.name) for f in dataclasses.fields(cls)})


def outcome(fn: Any) -> Any:
    """What ``fn()`` gives, or the type of what it raises."""
    try:
        return fn()
    except Exception as e:
        return type(e)


@RECORDS
def test_its_init_takes_exactly_the_fields(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, p
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default, p
        elif f.default_factory is not dataclasses.MISSING:
            assert p.default is None, p  # None: the factory's value
        else:
            assert p.default is inspect.Parameter.empty, p
    required = {f.name: SAMPLES[cls][0][f.name] for f, p in zip(fields, params, strict=True) if p.default is p.empty}
    made = cls(**required)
    for f in fields:  # every field set, to its default where not given
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(made, f.name) == f.default_factory(), f.name
        elif f.default is not dataclasses.MISSING:
            assert getattr(made, f.name) == f.default, f.name
    assert set(vars(made)) == {f.name for f in fields}


@RECORDS
def test_it_behaves_as_the_generated_dataclass(cls: type) -> None:
    first, second = SAMPLES[cls]
    a, ref_a = both(cls, first)
    assert dataclasses.is_dataclass(a) and cls.__match_args__ == reference(cls).__match_args__
    if "__repr__" not in cls.__dict__ or cls.__repr__.__module__ == "lineage_core.records":
        assert repr(a) == repr(ref_a)
    assert dataclasses.asdict(a) == dataclasses.asdict(ref_a)
    assert dataclasses.astuple(a) == dataclasses.astuple(ref_a)
    assert outcome(lambda: hash(a)) == outcome(lambda: hash(ref_a))
    assert a == cls(**first) and a != ref_a and (a == 1) is False
    for name in first:  # one field changed at a time: equal and hashed alike where the generated ones say so
        changed, ref_changed = both(cls, {**first, name: second[name]})
        assert (a == changed) is (ref_a == ref_changed), name
        assert (outcome(lambda c=changed: hash(a) == hash(c))
                == outcome(lambda c=ref_changed: hash(ref_a) == hash(c))), name
        assert dataclasses.replace(a, **{name: second[name]}) == changed, name
    assert pickle.loads(pickle.dumps(a)) == a == copy.deepcopy(a)


@RECORDS
def test_it_is_frozen_where_the_dataclass_was(cls: type) -> None:
    a, ref_a = both(cls, SAMPLES[cls][0])
    name, value = next(iter(SAMPLES[cls][1].items()))
    for obj in (a, ref_a):
        if cls in FROZEN:
            with pytest.raises(dataclasses.FrozenInstanceError, match=f"cannot assign to field '{name}'"):
                setattr(obj, name, value)
            with pytest.raises(dataclasses.FrozenInstanceError, match=f"cannot delete field '{name}'"):
                delattr(obj, name)
            with pytest.raises(dataclasses.FrozenInstanceError):
                obj.extra = 1
        else:
            setattr(obj, name, value)
            assert getattr(obj, name) == value


@RECORDS
def test_none_of_its_methods_was_compiled_at_import(cls: type) -> None:
    for name in ("__init__", "__eq__", "__repr__", "__hash__", "__setattr__", "__delattr__"):
        method = inspect.unwrap(getattr(cls, name)) if getattr(cls, name) is not None else None
        code = getattr(method, "__code__", None)
        if code is not None:  # object's own slots have none
            assert not code.co_filename.startswith("<"), (name, code.co_filename)


def test_a_record_writes_its_own_init() -> None:
    with pytest.raises(TypeError, match="must write its own __init__"):
        @record
        class NoInit:
            x: int


def test_a_plain_subclass_of_a_frozen_record_may_add_attributes() -> None:
    class Labelled(ArtifactRef):
        pass

    ref = Labelled(**SAMPLES[ArtifactRef][0])
    ref.label = "mine"  # not a field: allowed, as for a generated frozen dataclass
    assert ref.label == "mine"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.uri = "file:///elsewhere"
