"""Steps used by the single-flight tests, run in separate worker processes."""

import os
import time

from lineage_core import cached

LOG = os.environ.get("SF_LOG", "/dev/null")


def _record(name: str, x: int) -> None:
    with open(LOG, "a") as f:  # O_APPEND: one whole line per write, from any process
        f.write(f"{name} {x} {os.getpid()}\n")


@cached(name="sf.slow")
def slow(x: int) -> int:
    _record("slow", x)
    time.sleep(float(os.environ.get("SF_SLEEP", "1.0")))  # how long this worker takes: not key material
    return x * 2


@cached(name="sf.square")
def square(x: int) -> int:
    _record("square", x)
    return x * x


@cached(name="sf.label")
def label(x: int) -> str:
    _record("label", x)
    return f"item-{x}"
