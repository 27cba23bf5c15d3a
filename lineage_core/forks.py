"""Whether this process forked since some per-process state was made: a counter the child bumps.

Why: state that must not cross a fork (a SQLite connection, a pool of random bytes) used to be checked against
``os.getpid()``, which is a system call on every read since glibc stopped caching the pid; a hit checked it on
every lookup. Reading this counter is a module attribute.
"""

from __future__ import annotations

import os

generation = 0  # how many forks lie between the first process and this one


def _forked() -> None:
    global generation
    generation += 1


os.register_at_fork(after_in_child=_forked)
