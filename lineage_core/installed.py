"""What distributions this interpreter has installed, and which import names they provide, listed once per
installed set rather than once per process.

Why here, apart from the snapshot: every cached step's key asks which distribution owns the modules it imports,
and every hit's environment names the installed set; a process-per-task worker or a KFP pod would otherwise list
``sys.path`` and read every RECORD on each task. Both answers are kept on disk (``LINEAGE_HOME/cache``) under a
fingerprint of the ``sys.path`` directories that hold them, so a task reads one small file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from collections.abc import Iterable
from functools import cache
from typing import Any

from . import home_cache

__all__ = ["distributions_for_modules", "installed_distributions", "installed_fingerprint", "normalize_dist_name"]


def normalize_dist_name(name: str) -> str:
    """PEP 503 normalisation: ``Scikit_Learn`` and ``scikit-learn`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


_DIST_NAME = r"^(?P<name>.+?)-(?P<version>[^-]+)\.(dist-info|egg-info)$"
_installed_memo: dict[str, Any] = {}
_Listing = tuple[dict[str, str], bool]  # one directory's distributions (name -> version), and whether it holds metadata


@cache
def _dist_re() -> re.Pattern[str]:
    """Compiled when a directory is first listed: a process whose listings are all cached never needs it."""
    return re.compile(_DIST_NAME)


def _list_directory(where: str) -> _Listing:
    """The distributions in one ``sys.path`` directory, and whether it holds any ``*.dist-info``/``*.egg-info``
    entry at all (one without a version still counts for importlib.metadata's import-name map)."""
    found: dict[str, str] = {}
    meta = False
    try:
        names = os.listdir(where)
    except OSError:
        return found, False
    dist_re = _dist_re()
    for n in names:
        if n.endswith(("dist-info", "egg-info")):
            meta = True
            m = dist_re.match(n)
            if m:
                found.setdefault(normalize_dist_name(m["name"]), m["version"])
    return found, meta


def _list_distributions() -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            for name, version in _list_directory(entry)[0].items():
                found.setdefault(name, version)
    return found


def _sys_path_state() -> tuple[list[Any], list[tuple[str, bool]]]:
    """(fingerprint, entries): each non-empty ``sys.path`` entry as (absolute path, settled directory?), and the
    identity (device, inode, mtime_ns, ctime_ns) of every entry but the directories changed within
    :data:`~lineage_core.home_cache.SETTLED_NS` (a missing entry by its path alone). Installing, removing or
    upgrading a distribution adds, removes or renames a ``*.dist-info`` entry in one of them, which changes that
    directory's mtime and ctime (and ctime cannot be set back). A directory that just changed is listed on every
    call instead: a KFP task's own fresh ``mktemp -d`` on ``sys.path`` costs one listing of a near-empty
    directory, not the whole installed set."""
    now = time.time_ns()
    fp: list[Any] = []
    entries: list[tuple[str, bool]] = []
    for entry in sys.path:
        if not entry:  # the current directory: never listed (see _list_distributions)
            continue
        where = os.path.abspath(entry)
        try:
            st = os.stat(where)
        except OSError:
            fp.append([where])
            continue
        if not stat.S_ISDIR(st.st_mode):
            fp.append([where, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns])
            continue
        settled = home_cache.settled(st.st_mtime_ns, st.st_ctime_ns, now)
        if settled:
            fp.append([where, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns])
        entries.append((where, settled))
    return fp, entries


def installed_fingerprint() -> list[Any]:
    """What :func:`installed_distributions` keeps on disk, identified without reading it (see
    :func:`_sys_path_state`; the directories changed within :data:`~lineage_core.home_cache.SETTLED_NS` are not
    part of it)."""
    return _sys_path_state()[0]


def _listings() -> list[tuple[str, _Listing]]:
    """Each ``sys.path`` directory's listing, in ``sys.path`` order: the settled ones from the cache file of their
    fingerprint (one small file per installed set, ``LINEAGE_HOME/cache``, beside the import-name map), the ones
    that just changed listed now."""
    fp, entries = _sys_path_state()
    settled = [where for where, ok in entries if ok]
    memo = _installed_memo.get("listings")
    stored: dict[str, Any] | None = memo[1] if memo is not None and memo[0] == fp else None
    if stored is None:
        path = home_cache.record_path("installed", json.dumps([e[0] for e in fp]))
        data = home_cache.read_record(path)
        try:
            if data["fingerprint"] == fp and all(w in data["listings"] for w in settled):
                stored = data["listings"]
        except (KeyError, TypeError):
            pass
        if stored is None:
            stored = {where: list(_list_directory(where)) for where in settled}
            home_cache.write_record(path, {"fingerprint": fp, "listings": stored})
        _installed_memo["listings"] = (fp, stored)
    out: list[tuple[str, _Listing]] = []
    for where, ok in entries:
        if ok:
            dists, meta = stored[where]
            out.append((where, (dists, bool(meta))))
        else:
            out.append((where, _list_directory(where)))
    return out


def installed_distributions() -> dict[str, str]:
    """Normalised name -> version for every distribution on ``sys.path`` (first one wins).

    Listed once per installed set, not per process: each settled directory's listing is kept on disk under
    :func:`installed_fingerprint`, so a process-per-task worker or a pod reads one small file; any change to what
    is installed changes the fingerprint and the directories are listed again."""
    found: dict[str, str] = {}
    for _, (dists, _) in _listings():
        for name, version in dists.items():
            found.setdefault(name, version)
    return found


@cache
def _packages_distributions() -> dict[str, list[str]]:
    """Import name -> distributions. Reading every distribution's RECORD takes ~0.5 s in a large venv (an
    Airflow worker), which a process-per-task worker would pay on every task; so the mapping is kept on
    disk, keyed by the installed set (names, versions, and the ``sys.path`` entries that can hold a distribution:
    a directory with no ``*.dist-info``/``*.egg-info`` in it, such as a KFP task's fresh ``mktemp -d``, is left
    out), and rebuilt only when that changes."""
    listings = _listings()
    installed: dict[str, str] = {}
    for _, (dists, _) in listings:
        for name, version in dists.items():
            installed.setdefault(name, version)
    holds_metadata = {where: meta for where, (_, meta) in listings}
    holders = [e for e in map(os.path.abspath, filter(None, sys.path)) if holds_metadata.get(e, True)]
    path = home_cache.record_path("import-names", json.dumps([holders, sorted(installed.items())]))
    stored = home_cache.read_record(path)
    if isinstance(stored, dict):
        return stored
    from importlib.metadata import packages_distributions  # ~15 ms to import: only to build the map

    mapping = dict(packages_distributions())
    home_cache.write_record(path, mapping)
    return mapping


def distributions_for_modules(modules: Iterable[str]) -> list[str]:
    """Map top-level import names (``sklearn``) to distribution names (``scikit-learn``)."""
    mapping = _packages_distributions()
    dists: set[str] = set()
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    for m in modules:
        if m in stdlib or m in sys.builtin_module_names:
            continue
        for d in mapping.get(m, ()):
            dists.add(normalize_dist_name(d))
    return sorted(dists)
