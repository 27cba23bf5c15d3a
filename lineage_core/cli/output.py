"""What every ``lineage`` command shares: the store it reads, the console it prints to, JSON output,
times, and a progress bar that stays out of the way of quick work."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import LineageError

if TYPE_CHECKING:
    from ..store import Store

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def open_store() -> Store:
    """The store named by the environment (``LINEAGE_STORE_URL`` and friends)."""
    from ..store import Store

    return Store.default()


def no_lineage(node: object) -> LineageError:
    """What ``lineage lineage`` says of a node no event named (the server's 404), whoever answered."""
    return LineageError(f"no lineage recorded for {node}")


def console() -> Any:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)  # logs and pipes get whole ids


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=True) + "\n")


def when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


class DelayedProgress:
    """A rich progress bar that appears only once the work has taken more than a second."""

    def __init__(self, label: str, delay: float = 1.0, unit: str = "bytes") -> None:
        self.label, self.delay, self.unit = label, delay, unit
        self.started = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < self.delay:
                return
            from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TransferSpeedColumn

            columns = (DownloadColumn(), TransferSpeedColumn()) if self.unit == "bytes" else (MofNCompleteColumn(),)
            self.bar = Progress("[progress.description]{task.description}", BarColumn(), *columns,
                                transient=True, console=console())
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def __enter__(self) -> DelayedProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
