"""lineage_core.store.materializers: every built-in stores a value and gives back an equal value of the same
type, through a real artifact store (bytes verified on the way back); pickle only when the step opts in."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lineage_core.errors import MaterializerError
from lineage_core.store import ArtifactStore
from lineage_core.store import materializers as mat
from lineage_core.store.materializers import (
    PICKLE,
    LoadContext,
    Materializer,
    SaveContext,
    materializer_by_id,
    materializer_for,
    register_materializer,
)


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore((tmp_path / "artifacts").as_uri())


def store(value: Any, artifacts: ArtifactStore, allow_pickle: bool = False) -> tuple[Materializer, dict[str, Any], str]:
    """Save as the cache path does (a temp file, published); returns (materializer, meta as stored, digest)."""
    m = materializer_for(value, allow_pickle, "test.step")
    tmp = artifacts.new_temp_path()
    meta = json.loads(json.dumps(m.save(value, tmp, SaveContext(artifacts))))  # meta is stored as JSON
    return m, meta, artifacts.publish(tmp).hash


def load(m: Materializer, meta: dict[str, Any], digest: str, artifacts: ArtifactStore, scratch: Path,
         destination: Path | None = None, allow_pickle: bool = False) -> Any:
    """Load from the verified blob, by the materializer's id (as a reader in another process would)."""
    return materializer_by_id(m.id, allow_pickle).load(artifacts.read_verified(digest), meta,
                                                       LoadContext(scratch, artifacts, destination, digest))


def round_trip(value: Any, artifacts: ArtifactStore, scratch: Path, allow_pickle: bool = False,
               destination: Path | None = None) -> tuple[Materializer, Any]:
    m, meta, digest = store(value, artifacts, allow_pickle)
    return m, load(m, meta, digest, artifacts, scratch, destination, allow_pickle)


@pytest.mark.parametrize(("value", "name"), [
    (b"\x00\xffbytes", "bytes"),
    (bytearray(b"mutable"), "bytes"),
    (b"", "bytes"),
    ("text → ü \ud800", "str"),  # a lone surrogate survives too
    ({"a": [1, 2.5, None, True, {"b": "c"}], "": -0}, "json"),
    ([], "json"),
    (None, "json"),
    (np.arange(12, dtype=np.int32).reshape(3, 4), "numpy"),
    (np.asfortranarray(np.linspace(0, 1, 6).reshape(2, 3)), "numpy"),
    (np.array(["a", "bc"]), "numpy"),
    (np.array(1.5), "numpy"),  # 0-d
    (pd.DataFrame({"x": [1, 2], "y": ["a", None], "z": [0.5, math.nan]}), "pandas-parquet"),
])
def test_builtin_values_round_trip_exactly(value: Any, name: str, artifacts: ArtifactStore, tmp_path: Path) -> None:
    m, loaded = round_trip(value, artifacts, tmp_path / "scratch")
    assert m.name == name and type(loaded) is type(value)
    if isinstance(value, np.ndarray):
        assert loaded.dtype == value.dtype and loaded.shape == value.shape and np.array_equal(loaded, value)
        assert not loaded.flags.writeable  # zero-copy over the verified bytes: read-only
    elif isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, value)
    else:
        assert loaded == value


@pytest.mark.parametrize("value", [(1, 2), {1: "int key"}, [math.nan], {"x": math.inf}, {"s": {1, 2}}, object()])
def test_values_that_would_not_come_back_exactly_need_pickle(value: Any) -> None:
    with pytest.raises(MaterializerError, match=r"pickle=True") as e:
        materializer_for(value, False, "test.step")
    assert "test.step" in str(e.value) and isinstance(e.value, TypeError)
    assert materializer_for(value, True, "test.step") is PICKLE


def test_object_arrays_are_not_numpy_blobs() -> None:
    with pytest.raises(MaterializerError):
        materializer_for(np.array([object()]), False, "test.step")


def test_pickle_round_trips_only_for_a_step_that_opted_in(artifacts: ArtifactStore, tmp_path: Path) -> None:
    value = {"tuple": (1, 2), 3: {4, 5}}
    m, loaded = round_trip(value, artifacts, tmp_path / "scratch", allow_pickle=True)
    assert m is PICKLE and loaded == value
    with pytest.raises(MaterializerError, match="did not opt in to pickle"):
        materializer_by_id(PICKLE.id)  # what an entry says never makes a reader unpickle


def test_a_file_output_is_restored_where_the_client_says_never_where_the_entry_points(
    artifacts: ArtifactStore, tmp_path: Path,
) -> None:
    out, scratch = tmp_path / "out" / "model.bin", tmp_path / "scratch"
    out.parent.mkdir()
    out.write_bytes(b"weights")
    m, meta, digest = store(out, artifacts)
    assert m.id == "path@2" and meta["original"] == str(out)
    out.unlink()
    restored = load(m, meta, digest, artifacts, scratch)
    assert restored.is_relative_to(scratch) and restored.name == "model.bin" and restored.read_bytes() == b"weights"
    assert not out.exists()  # the entry's metadata named it: not a place to write
    assert load(m, meta, digest, artifacts, scratch) == restored  # already there, same content: reused
    chosen = tmp_path / "chosen" / "m.bin"
    assert load(m, meta, digest, artifacts, scratch, destination=chosen) == chosen
    assert chosen.read_bytes() == b"weights"
    planted = {**meta, "name": "../../../etc/evil"}
    assert load(m, planted, digest, artifacts, scratch).is_relative_to(scratch)


def test_a_directory_tree_round_trips_with_its_executable_bits(artifacts: ArtifactStore, tmp_path: Path) -> None:
    tree = tmp_path / "export"
    (tree / "shards").mkdir(parents=True)
    (tree / "shards" / "0.txt").write_text("zero\n")
    (tree / "shards" / "1.txt").write_text("same\n")
    (tree / "README").write_text("same\n")
    (tree / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(tree / "run.sh", 0o755)
    files = {p.relative_to(tree): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    dest = tmp_path / "elsewhere" / "restored"
    _, loaded = round_trip(tree, artifacts, tmp_path / "scratch", destination=dest)
    assert loaded == dest
    assert {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == files
    assert os.access(dest / "run.sh", os.X_OK) and not os.access(dest / "README", os.X_OK)


def test_a_tree_manifest_cannot_write_outside_its_directory(artifacts: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "evil").write_bytes(b"owned")
    evil = artifacts.publish_file(str(tmp_path / "evil"))
    manifest = {"name": "t", "files": [["../../escaped", evil.hash, False]]}
    with pytest.raises(MaterializerError, match="outside the output directory"):
        materializer_by_id("path@2").load(json.dumps(manifest).encode(), {"name": "t", "kind": "tree"},
                                          LoadContext(tmp_path / "scratch", artifacts))
    assert list(tmp_path.rglob("escaped")) == []


def test_unknown_ids_and_registered_materializers(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MaterializerError, match="'nope@1', which is not registered"):
        materializer_by_id("nope@1")
    monkeypatch.setattr(mat, "_REGISTERED", [])
    monkeypatch.setattr(mat, "_BY_ID", dict(mat._BY_ID))

    class Upper(Materializer):
        name, version = "upper", 3

        def can_save(self, value: Any) -> bool:
            return isinstance(value, str) and value.isupper()

    upper = Upper()
    register_materializer(upper)
    assert materializer_for("LOUD", False, "s") is upper  # tried before the built-ins
    assert materializer_for("quiet", False, "s").name == "str"
    assert materializer_by_id("upper@3") is upper
