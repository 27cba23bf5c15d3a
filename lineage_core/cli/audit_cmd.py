"""``lineage audit``: the server's audit trail — every write through it, who (a token's name) did what, when,
and the outcome — read from the store's database, or with a server URL from ``GET /api/v1/audit`` (an
``admin`` token; times there are to the microsecond); ``lineage audit prune --older-than 90d``: its retention."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import typer

from ..errors import ConfigError
from .output import JsonOpt, console, print_json, when
from .source import open_source

audit_app = typer.Typer(invoke_without_command=True)


def _since(text: str) -> float:
    """``24h``, ``30d``… ago, or an ISO 8601 time (UTC when it names no zone)."""
    from ..retention import parse_duration

    try:
        return time.time() - parse_duration(text)
    except ConfigError:
        pass
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {text!r}: give a duration (24h, 30d) or an ISO 8601 time") from None
    return (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).timestamp()


@audit_app.callback()
def audit(
    ctx: typer.Context,
    token: Annotated[str | None, typer.Option(help="Only writes by this token name.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (put_entry, post_lineage, gc, …).")] = None,
    since: Annotated[str | None, typer.Option(help="Only since then: 24h, 30d or an ISO 8601 time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many rows, newest first.")] = 100,
    json_: JsonOpt = False,
) -> None:
    """The server's audit trail: who wrote what, when, and the outcome (newest first)."""
    if ctx.invoked_subcommand is not None:
        return None
    rows = open_source().audit(token, action, _since(since) if since else None, limit)
    if json_:
        return print_json(rows)
    from rich.table import Table

    table = Table("when", "token", "action", "target", "namespace", "status", "outcome")
    for r in rows:
        table.add_row(when(r["at"]), r["token"], r["action"], r["target"] or "-", r["namespace"] or "-",
                      str(r["status"]), r["outcome"])
    console().print(table)


@audit_app.command()
def prune(older_than: Annotated[str, typer.Option(help="Remove rows older than this: 90d, 12w.")],
          json_: JsonOpt = False) -> None:
    """Remove audit rows older than a duration (the trail's retention; the removal is itself a row). Needs an
    ``admin`` token on a server."""
    removed = open_source().prune_audit(older_than)
    if json_:
        return print_json({"pruned": removed})
    typer.echo(f"pruned {removed} audit row(s) older than {older_than}")
    return None
