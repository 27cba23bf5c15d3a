"""Results passed by reference between cached steps (what XComs and KFP parameters carry): keyed by
content in O(1), loaded and verified only when the step runs, JSON round trip, clear errors."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from types import ModuleType

import pandas as pd
import pytest

from lineage_core import ArtifactRef, explain
from lineage_core.cache import default_store
from lineage_core.errors import ConfigError, IntegrityError
from lineage_core.refs import as_ref

STEPS = '''
import pandas as pd
from lineage_core import cached

CALLS = []

@cached(name="refs.make")
def make(n: int) -> pd.DataFrame:
    CALLS.append("make")
    return pd.DataFrame({"x": range(n)})

@cached(name="refs.total")
def total(df: pd.DataFrame) -> int:
    CALLS.append("total")
    return int(df["x"].sum())

@cached(name="refs.readonly", cache="read")
def readonly(n: int) -> int:
    return n
'''


def test_a_chain_by_reference(make_module: Callable[..., ModuleType]) -> None:
    m = make_module(STEPS)
    ref = m.make.ref(4)
    assert isinstance(ref, ArtifactRef) and ref.key == explain(m.make).key and ref.run_id == explain(m.make).run_id
    wire = json.loads(json.dumps(ref.to_dict()))  # what an XCom carries
    assert as_ref(wire) == ref and as_ref({"x": 1}) == {"x": 1}
    assert m.total(as_ref(wire)) == 6 and explain(m.total).hit is False  # ran on the loaded DataFrame
    assert m.make.ref(4) == ref and explain(m.make).hit is True  # a hit returns the same reference
    assert m.CALLS == ["make", "total"]
    # The downstream hit keys the reference by content: it never reads the upstream artifact.
    store = default_store()
    os.unlink(store.artifacts.path_for(ref.hash))
    assert m.total(ref) == 6 and explain(m.total).hit is True
    assert m.CALLS == ["make", "total"]


def test_a_tampered_reference_is_never_served(make_module: Callable[..., ModuleType]) -> None:
    m = make_module(STEPS)
    ref = m.make.ref(3)
    path = default_store().artifacts.path_for(ref.hash)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(10)
        f.write(b"XXXX")
    with pytest.raises(IntegrityError):
        m.total(ref)  # the step would run on wrong bytes: it refuses
    assert pd.DataFrame({"x": range(3)}).equals(m.make(3))  # upstream: the bad entry is discarded, recomputed


def test_bad_references_and_modes(make_module: Callable[..., ModuleType]) -> None:
    m = make_module(STEPS)
    with pytest.raises(ConfigError, match="needs 'hash'"):
        ArtifactRef.from_dict({"__lineage_artifact__": 1, "uri": "file:///x", "materializer": "json@1"})
    with pytest.raises(ConfigError, match="pass by reference only while the cache writes"):
        m.readonly.ref(1)
