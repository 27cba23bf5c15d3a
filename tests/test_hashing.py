from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
import os
import subprocess
import sys
from pathlib import Path

import blake3
import numpy as np
import pandas as pd
import pydantic
import pytest

from lineage_core.errors import LineageError, UnhashableInputError
from lineage_core.hashing import (
    MemoryStatCache,
    content,
    hash_bytes,
    hash_directory,
    hash_file,
    hash_value,
    register_hasher,
)


def test_bytes_hash_is_tagged_blake3() -> None:
    assert hash_bytes(b"abc") == "blake3:" + blake3.blake3(b"abc").hexdigest()


def test_large_file_streams_and_matches_one_shot(tmp_path: Path) -> None:
    data = os.urandom(3 << 20) * 7  # 21 MiB: several chunks, multi-threaded path
    p = tmp_path / "big.bin"
    p.write_bytes(data)
    assert hash_file(p) == hash_bytes(data)


def test_directory_hash_ignores_mtime_but_sees_content_names_and_exec_bit(tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a")
    (d / "sub" / "b.txt").write_text("b")
    h1 = hash_directory(d)
    os.utime(d / "a.txt", (1, 1))
    assert hash_directory(d) == h1
    (d / "sub" / "b.txt").write_text("B")
    h2 = hash_directory(d)
    assert h2 != h1
    (d / "sub" / "b.txt").rename(d / "sub" / "c.txt")
    assert hash_directory(d) != h2
    h3 = hash_directory(d)
    os.chmod(d / "a.txt", 0o755)
    assert hash_directory(d) != h3


def test_stat_cache_skips_unchanged_files_and_rehashes_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real = content.hash_stream_file

    def counted(path: str | os.PathLike[str]) -> str:
        reads.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(content, "hash_stream_file", counted)
    cache = MemoryStatCache()
    p = tmp_path / "f"
    p.write_bytes(b"one")
    st = p.stat()
    first = hash_file(p, cache)
    # An unchanged stat identity: the cached hash is trusted (the file is not read again).
    assert hash_file(p, cache) == first and len(reads) == 1
    # Rewritten in place with the same size and its mtime put back: ctime moved, so it is read again.
    with open(p, "r+b") as f:
        f.write(b"two")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p).st_mtime_ns == st.st_mtime_ns and os.stat(p).st_size == st.st_size
    assert hash_file(p, cache) == hash_bytes(b"two") and len(reads) == 2
    # Any other stat change re-hashes too.
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    assert hash_file(p, cache) == hash_bytes(b"two") and len(reads) == 3


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Cfg:
    lr: float
    layers: list[int]


class Model(pydantic.BaseModel):
    name: str
    k: int = 3


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, True),
        (0, False),
        ("1", 1),
        (["ab", "c"], ["a", "bc"]),
        ((1, 2), [1, 2]),
        ({1, 2}, [1, 2]),
        (b"x", "x"),
        (None, "None"),
        (Color.RED, 1),
        (Cfg(0.1, [1]), {"lr": 0.1, "layers": [1]}),
        (dt.date(2024, 1, 1), "2024-01-01"),
        (np.arange(3, dtype=np.int64), np.arange(3, dtype=np.int32)),
        (np.zeros((2, 3)), np.zeros((3, 2))),
        (0.0, -0.0),
    ],
)
def test_distinct_values_have_distinct_hashes(a: object, b: object) -> None:
    assert hash_value(a) != hash_value(b)


def test_equal_values_hash_equal_regardless_of_order() -> None:
    assert hash_value({"a": 1, "b": [1, 2]}) == hash_value({"b": [1, 2], "a": 1})
    assert hash_value({3, 1, 2}) == hash_value({2, 3, 1})
    assert hash_value(Model(name="x")) == hash_value(Model(name="x", k=3))
    assert hash_value(Model(name="x")) != hash_value(Model(name="x", k=4))
    df1 = pd.DataFrame({"x": [1, 2], "y": ["a", None]})
    df2 = pd.DataFrame({"x": [1, 2], "y": ["a", None]})
    assert hash_value(df1) == hash_value(df2)
    df2.loc[1, "x"] = 3
    assert hash_value(df1) != hash_value(df2)
    assert hash_value(float("nan")) == hash_value(float("nan"))


def test_path_hashes_by_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("1,2\n")
    b.write_text("1,2\n")
    assert hash_value(a) == hash_value(b)
    b.write_text("1,3\n")
    assert hash_value(a) != hash_value(b)


@pytest.mark.slow
def test_hash_is_stable_across_processes() -> None:
    code = (
        "import numpy as np, pandas as pd; from lineage_core.hashing import hash_value;"
        "print(hash_value({'s': {'b','a','c'}, 'd': {'x': 1.5, 'y': None}, 'df': pd.DataFrame({'a': ['p','q']}),"
        " 'arr': np.arange(6).reshape(2, 3)}))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True, text=True, check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1


class Opaque:
    def __init__(self, v: int) -> None:
        self.v = v


class WithProtocol:
    def __init__(self, v: int) -> None:
        self.v = v

    def __lineage_hash__(self) -> bytes:
        return str(self.v).encode()


def test_unknown_type_raises_with_param_type_and_fix() -> None:
    with pytest.raises(UnhashableInputError) as e:
        hash_value({"k": [Opaque(1)]}, "config")
    msg = str(e.value)
    assert "'config'" in msg and "Opaque" in msg and "register_hasher" in msg and "exclude" in msg
    assert "config['k'][0]" in msg
    assert isinstance(e.value, TypeError) and isinstance(e.value, LineageError)


def test_protocol_and_registry_extend_hashing() -> None:
    assert hash_value(WithProtocol(1)) == hash_value(WithProtocol(1))
    assert hash_value(WithProtocol(1)) != hash_value(WithProtocol(2))
    register_hasher(Opaque, lambda o: str(o.v))
    assert hash_value(Opaque(1)) != hash_value(Opaque(2))


def test_object_arrays_are_refused() -> None:
    with pytest.raises(UnhashableInputError):
        hash_value(np.array([object()]), "arr")


def test_progress_reports_bytes_read(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}").write_bytes(b"x" * (i + 1) * 1000)
    seen: list[tuple[int, int]] = []
    cache = MemoryStatCache()
    hash_directory(tmp_path, cache, lambda done, total: seen.append((done, total)))
    assert seen[-1] == (15000, 15000) and all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    seen.clear()
    hash_directory(tmp_path, cache, lambda done, total: seen.append((done, total)))
    assert seen == []  # nothing changed: nothing read, nothing to report
