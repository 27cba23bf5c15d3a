"""Run ids (lineage_core/ids.py): canonical UUIDv7 text, sorted by creation time, and never the same twice — across
threads (each draws its own pool of random bytes) and across a fork (a child draws a new pool, never its parent's)."""

from __future__ import annotations

import multiprocessing
import re
import threading
import time
import uuid

from lineage_core.ids import new_run_id

_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_ids_are_uuid7_in_creation_order() -> None:
    first = new_run_id()
    time.sleep(0.002)
    ids = [new_run_id() for _ in range(5000)]  # past several pools
    assert all(_UUID7.fullmatch(i) for i in [first, *ids])
    assert all(uuid.UUID(i).version == 7 and str(uuid.UUID(i)) == i for i in ids[:50])
    assert all(first < i for i in ids)
    assert len(set(ids)) == len(ids)


def test_threads_never_share_an_id() -> None:
    out: list[list[str]] = []

    def draw() -> None:
        out.append([new_run_id() for _ in range(3000)])

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [i for ids in out for i in ids]
    assert len(out) == 8 and len(set(every)) == len(every) == 8 * 3000


def _draw(out: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    out.put([new_run_id() for _ in range(50)])


def test_a_forked_child_draws_its_own_random_bits() -> None:
    new_run_id()  # the parent holds a pool, mostly unused, when it forks
    ctx = multiprocessing.get_context("fork")
    out = ctx.SimpleQueue()
    children = [ctx.Process(target=_draw, args=(out,)) for _ in range(2)]
    for c in children:
        c.start()
    for c in children:
        c.join(60)
        assert c.exitcode == 0
    theirs = [out.get(), out.get()]
    ours = [new_run_id() for _ in range(50)]
    tails = [[i[19:] for i in ids] for ids in (*theirs, ours)]  # the random part, whatever the millisecond
    assert len({t for ids in tails for t in ids}) == 150
