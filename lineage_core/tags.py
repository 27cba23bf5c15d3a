"""Tags: name a good run (``prod``, ``baseline``) and move the name back when a later one breaks.

A tag is a pointer of one job at one run; ``JOB@NAME`` (or ``NAMESPACE:JOB@NAME`` where one job name lives in
two namespaces) stands for that run wherever a run id is accepted: ``lineage show|diff|get``,
``lineage_core.load``, the read API. Every move is kept — who, when, from which run, to which run — so
:func:`previous_run` can walk back, and a tagged run is pinned against gc while the tag points at it. The rows
are :mod:`lineage_core.store.tags`'; this module is the policy: which names are valid, which job a tag lives in,
who moved it, and what "the previous run" of a tag is.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, RunNotFoundError
from .store.tags import Tag, TagMove, TagTables

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Tag", "TagMove", "move_tag", "previous_run", "valid_name", "who"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def valid_name(name: str) -> str:
    """A tag name: 1-128 letters, digits, ``.``, ``_`` or ``-`` (no ``@``, ``:`` or ``/``: they delimit refs)."""
    if not _NAME.match(name or ""):
        raise ConfigError(f"tag name {name[:140]!r} is not valid: use 1-128 letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit")
    return name


def who() -> str:
    """Who moves a tag from this process: the OS user (a server records its caller's token name instead)."""
    try:
        return getpass.getuser()[:64] or "unknown"
    except (OSError, KeyError):  # no user database entry (a container running as an arbitrary uid)
        return "unknown"


def move_tag(store: Store, run_ref: str, name: str, job: str | None = None, by: str | None = None,
             action: str = "tag") -> TagMove:
    """Point tag ``name`` of ``job`` (default: the run's own job, in the run's namespace) at the run ``run_ref``
    names (an id, a unique prefix or another tag) and record the move; returns it."""
    valid_name(name)
    if action not in ("tag", "rollback"):
        raise ConfigError(f"a tag move is 'tag' or 'rollback', not {action!r}")
    run = store.get_run(run_ref)
    job_name = job or run["job"]
    job_id = run["job_id"] if job_name == run["job"] else store.job_id(run["namespace"], job_name)
    return TagTables(store).move(job_id, name, str(run["id"]), by or who(), action)


def tags(store: Store, job: str | None = None, run_ref: str | None = None) -> list[Tag]:
    """The current tags (of jobs named ``job``, or pointing at the run ``run_ref`` names)."""
    run_id = str(store.get_run(run_ref)["id"]) if run_ref else None
    return TagTables(store).tags(job, run_id)


def history(store: Store, job: str, name: str) -> list[TagMove]:
    """Every move of the tag, newest first (RunNotFoundError when it was never set)."""
    moves = TagTables(store).history(job, name)
    if not moves:
        raise RunNotFoundError(f"no tag {name!r} on job {job!r} in store {store.url}")
    return moves


def previous_run(moves: Sequence[dict[str, Any]]) -> str:
    """The run a ``--previous`` rollback moves the tag to, from its moves (newest first, as dicts): the run tagged
    before the current one. Rollbacks are not steps of their own: after tagging A, B, C, rolling back twice goes to
    B, then A (never back to C). RunNotFoundError when the tag has no earlier run."""
    if not moves:
        raise RunNotFoundError("the tag was never set")
    current = moves[0]["to_run_id"]
    targets: list[str] = []
    for m in reversed(moves):  # oldest first: the runs deliberately tagged, each once, in the order first tagged
        if m["action"] == "tag" and m["to_run_id"] not in targets:
            targets.append(m["to_run_id"])
    if current in targets:
        i = targets.index(current)
        if i > 0:
            return targets[i - 1]
    elif moves[0]["from_run_id"]:
        return str(moves[0]["from_run_id"])
    raise RunNotFoundError(f"tag {moves[0]['job']}@{moves[0]['name']} has no run before {current}")
