"""lineage_core.environ: the hit path's reads of environment variables see exactly what ``os.environ`` holds,
whenever and however it changed."""

from __future__ import annotations

import os

import pytest

from lineage_core.environ import environ, reader


def test_reads_follow_every_change_of_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "LINEAGE_TEST_ENVIRON_VIEW"
    monkeypatch.delenv(name, raising=False)
    assert environ.get(name) is None and environ.get(name, "unset") == "unset" and name not in environ
    with pytest.raises(KeyError):
        environ[name]
    os.environ[name] = "café ☕"
    try:
        assert environ.get(name) == environ[name] == "café ☕" and name in environ
        os.environ[name] = ""
        assert environ.get(name, "unset") == ""  # set but empty is not unset
        os.environ.update({name: "again"})
        assert environ.get(name) == "again"
    finally:
        del os.environ[name]
    assert environ.get(name) is None


def test_it_is_the_whole_environment() -> None:
    assert dict(environ) == dict(os.environ) and len(environ) == len(os.environ)


def test_a_reader_follows_every_change_too(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("LINEAGE_TEST_READER_A", "LINEAGE_TEST_READER_B")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    read = reader(names)
    unset = read()
    assert unset == (None, None)
    monkeypatch.setenv(names[1], "b")
    assert read() != unset and read() == read()
    monkeypatch.setenv(names[1], "b2")
    changed = read()
    monkeypatch.setenv(names[0], "")
    assert read() != changed  # set but empty is not unset
    monkeypatch.delenv(names[0])
    monkeypatch.delenv(names[1])
    assert read() == unset
