"""``lineage stats``: what the cache saved — hit rate, compute seconds, GPU-hours, tokens and money — per job,
namespace or LLM model, with a sparkline of the seconds saved per day; from the store's database or from a
lineage server (``GET /api/v1/stats/savings``, a ``read`` token). Every hit's saving is its producing run's
(lineage_core/store/savings.py says how each is read)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from .audit_cmd import _since
from .output import JsonOpt, console, print_json
from .source import open_source

commands = typer.Typer()
_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """One bar per value, scaled to the largest (an all-zero series is the lowest bar throughout)."""
    top = max(values, default=0.0)
    if top <= 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(int(v / top * (len(_BARS) - 1) + 0.5), len(_BARS) - 1)] for v in values)


def daily(days: list[dict[str, Any]], since: float | None, until: float) -> tuple[list[str], list[float]]:
    """Every UTC day of the window (from its first day with a hit when it has no start), the seconds saved in each."""
    saved = {d["day"]: float(d["compute_seconds_saved"]) for d in days}
    if not saved and since is None:
        return [], []
    first = dt.date.fromisoformat(min(saved)) if since is None else dt.datetime.fromtimestamp(
        since, dt.timezone.utc).date()
    last = dt.datetime.fromtimestamp(until, dt.timezone.utc).date()
    if saved:
        first, last = min(first, dt.date.fromisoformat(min(saved))), max(last, dt.date.fromisoformat(max(saved)))
    out: list[str] = []
    while first <= last and len(out) < 3660:
        out.append(first.isoformat())
        first += dt.timedelta(days=1)
    return out, [saved.get(d, 0.0) for d in out]


def _seconds(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.3f} s"


def _rate(row: dict[str, Any]) -> str:
    return "-" if row["hit_rate"] is None else f"{row['hit_rate'] * 100:.1f}%"


@commands.command()
def stats(
    since: Annotated[str | None, typer.Option(help="Only hits since then: 7d, 24h or an ISO 8601 time.")] = None,
    by: Annotated[str, typer.Option(help="Group by job, namespace or model.")] = "job",
    json_: JsonOpt = False,
) -> None:
    """What the cache saved: hit rate, compute seconds, GPU-hours, tokens and money (each hit: its producing run)."""
    from ..errors import ConfigError
    from ..store.savings import GROUPINGS

    if by not in GROUPINGS:
        raise ConfigError(f"--by {by!r}: give one of {', '.join(GROUPINGS)}")
    report = open_source().savings(_since(since) if since else None, by)
    if json_:
        return print_json(report)
    from rich.table import Table

    total = report["totals"]
    con = console()
    con.print(f"[bold]hits[/] {total['hits']} of {total['lookups']} runs ({_rate(total)})   "
              f"[bold]compute saved[/] {_seconds(total['compute_seconds_saved'])}   "
              f"[bold]GPU-hours saved[/] {total['gpu_hours_saved']:.4f}   "
              f"[bold]tokens saved[/] {total['tokens_saved']}   [bold]USD saved[/] {total['cost_usd_saved']:.6f}")
    if total["unknown_sources"]:
        con.print(f"  {total['unknown_sources']} hit(s) whose producing run is gone: their saving is not counted")
    for kind, hours in report.get("gpu_hours_by_type", {}).items():
        con.print(f"  GPU-hours on {kind}: {hours:.4f}")
    days, values = daily(report["days"], report["since"], report["until"])
    if days:
        con.print(f"  per day {days[0]} … {days[-1]}  {sparkline(values)}")
    table = Table(by, "runs", "hits", "hit rate", "compute saved", "GPU-h", "tokens", "USD")
    for g in report["groups"]:
        table.add_row(g["group"], str(g["lookups"]), str(g["hits"]), _rate(g), _seconds(g["compute_seconds_saved"]),
                      f"{g['gpu_hours_saved']:.4f}", str(g["tokens_saved"]), f"{g['cost_usd_saved']:.6f}")
    con.print(table)
