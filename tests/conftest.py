"""Shared fixtures: every test gets its own LINEAGE_HOME (SQLite store + local artifacts)."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import cache as cache_mod


@pytest.fixture(autouse=True)
def lineage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "lineage-home"
    monkeypatch.setenv("LINEAGE_HOME", str(home))
    for var in ("LINEAGE_STORE_URL", "LINEAGE_ARTIFACTS_URL", "LINEAGE_CACHE", "LINEAGE_DISABLED", "LINEAGE_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    yield home
    for store in list(cache_mod._stores.values()):
        store.close()
    cache_mod._stores.clear()
    cache_mod._store_by_env.clear()


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    """Write a user module into a temp package dir and import it under a unique name."""
    src_dir = tmp_path / "usercode"
    src_dir.mkdir()
    monkeypatch.syspath_prepend(str(src_dir))
    created: list[str] = []

    def make(source: str, name: str | None = None) -> ModuleType:
        name = name or f"mod_{uuid.uuid4().hex[:8]}"
        (src_dir / f"{name}.py").write_text(textwrap.dedent(source))
        if name in sys.modules:
            del sys.modules[name]
        importlib.invalidate_caches()
        created.append(name)
        return importlib.import_module(name)

    yield make  # type: ignore[misc]
    for name in created:
        sys.modules.pop(name, None)
