"""``lineage runs | show | explain | diff``: what ran, why it was a hit or a miss, and what differs — from the
store's database or from a lineage server (:mod:`.source`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..runs import RunStatus
from .output import JsonOpt, console, print_json, when
from .source import open_source

commands = typer.Typer()


@commands.command()
def runs(job: Annotated[str | None, typer.Option(help="Only runs of this job.")] = None,
         limit: int = 50, json_: JsonOpt = False,
         metrics: Annotated[bool, typer.Option("--metrics", help="A column per metric (a hit shows its source "
                                                                  "run's).")] = False) -> None:
    """List recent runs, newest first."""
    rows = open_source().runs(job, limit)
    if json_:
        return print_json(rows)
    from rich.table import Table

    names = sorted({n for r in rows for n in r.get("metrics") or {}}) if metrics else []
    table = Table("run", "job", "status", "started", "duration", *(() if metrics else ("key",)), *names)
    for r in rows:
        dur = f"{(r['ended_at'] - r['started_at']) * 1000:.0f} ms" if r["ended_at"] else "-"
        status = r["status"] + (f" ← {r['source_run_id'][:13]}…" if r["source_run_id"] else "")
        last = [metric_text((r.get("metrics") or {}).get(n)) for n in names] if metrics else [
            (r["cache_key"] or "")[:18]]
        table.add_row(r["id"], r["job"], status, when(r["started_at"]), dur, *last)
    console().print(table)


def metric_text(value: float | None) -> str:
    """A metric as a table shows it: six significant digits, ``-`` where the run has none."""
    return "-" if value is None else f"{value:.6g}"


@commands.command()
def show(run_id: str, json_: JsonOpt = False) -> None:
    """Show one run: status, key, reasons, tags, metrics, environment."""
    source = open_source()
    run = source.run(run_id)
    tags = [f"{t['job']}@{t['name']}" for t in source.tags(None, run["id"])]  # the tags pointing at it
    if json_:
        return print_json({**run, "tags": tags})
    con = console()
    con.print(f"[bold]{run['id']}[/] {run['namespace']}/{run['job']} [bold]{run['status']}[/]")
    if tags:
        con.print(f"  tags {', '.join(tags)}")
    con.print(f"  started {when(run['started_at'])}  ended {when(run['ended_at'])}")
    con.print(f"  key {run['cache_key']}")
    if run["source_run_id"]:
        con.print(f"  value from run {run['source_run_id']}")
    for reason in run["reasons"] or []:
        con.print(f"  • {reason}")
    if run["error"]:
        con.print(f"  [red]error[/] {run['error']}")
    if run.get("metrics"):
        origin = " (from its source run)" if run["source_run_id"] else ""
        con.print(f"  metrics{origin} " + ", ".join(f"{k}={metric_text(v)}" for k, v in sorted(run["metrics"].items())))
    m = run["manifest"]
    if m:
        con.print(f"  params {m['display']}")
        con.print(f"  env {m['env'].get('policy')}: python {m['env'].get('python', '-')} "
                  f"packages {m['env'].get('packages', {}) if m['env'].get('policy') != 'full' else '(full set)'}")


@commands.command()
def explain(run_id: str, json_: JsonOpt = False) -> None:
    """Why a run was a cache hit or a miss, in plain words."""
    run = open_source().run(run_id)
    hit = run["status"] == RunStatus.CACHED
    reasons = run["reasons"] or []
    if json_:
        return print_json({"run_id": run["id"], "hit": hit, "source_run_id": run["source_run_id"], "reasons": reasons})
    verdict = "hit" if hit else "miss"
    typer.echo(f"{run['job']} run {run['id']}: cache {verdict}")
    for r in reasons:
        typer.echo(f"  - {r}")


@commands.command()
def diff(run_a: str, run_b: str, json_: JsonOpt = False) -> None:
    """What differs between two runs: code, parameters, inputs, environment."""
    d = open_source().diff(run_a, run_b)
    if json_:
        return print_json(d)
    typer.echo(f"{d['a']} → {d['b']}")
    if d["same_key"]:
        typer.echo("  same cache key")
    for line in d["key"]:
        typer.echo(f"  key: {line}")
    for line in d["environment"]:
        typer.echo(f"  env: {line}")
    if not d["key"] and not d["environment"] and d["same_key"]:
        typer.echo("  no differences")
