"""``lineage events show | ingest | flush | export``, ``lineage lineage`` and ``lineage serve``: OpenLineage
events in and out of the store, the lineage graph they make, and the server that speaks the protocol."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer

from ..errors import LineageError
from ..redact import redact_url
from ..settings import Settings
from .output import DelayedProgress, JsonOpt, console, open_store, print_json

commands = typer.Typer()
events_app = typer.Typer(no_args_is_help=True, help="OpenLineage events of stored runs.")


@events_app.command("show")
def events_show(run_id: str) -> None:
    """The OpenLineage RunEvents (START, then COMPLETE/FAIL/ABORT) of a run, as JSON lines."""
    from ..openlineage.records import run_events

    for event in run_events(open_store(), run_id):
        sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")


@events_app.command("ingest")
def events_ingest(
    path: Annotated[str, typer.Argument(help="A JSON array or JSON-lines file of events; - for stdin.")],
) -> None:
    """Store OpenLineage events from any producer (idempotent; a malformed batch stores nothing)."""
    from ..openlineage.ingest import ingest

    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    except OSError as e:
        raise LineageError(f"cannot read {path}: {e.strerror}") from None
    try:
        if text.lstrip().startswith("["):
            data = json.loads(text)
        else:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as e:
        raise LineageError(f"{path} is not JSON or JSON lines: {e}") from None
    result = ingest(open_store(), data)
    typer.echo(f"stored {result.stored} event(s), {result.duplicates} already stored")


@events_app.command("flush")
def events_flush() -> None:
    """Send the events spooled while the OpenLineage backend was unreachable."""
    from ..openlineage.emitter import flush_spool

    sent, failed = flush_spool()
    typer.echo(f"sent {sent} spooled event(s); {failed} still spooled")
    if failed:
        raise LineageError(f"{failed} event(s) could not be sent: the backend is still unreachable")


@events_app.command("export")
def events_export(
    to: Annotated[str, typer.Option("--to", help="Marquez or any OpenLineage HTTP endpoint, e.g. http://marquez:5000")],
    endpoint: Annotated[str, typer.Option(help="Path of the ingest endpoint.")] = "api/v1/lineage",
    after: Annotated[str | None, typer.Option(help="Only events at or after this ISO-8601 time.")] = None,
) -> None:
    """Replay every stored OpenLineage event (ours and other producers') to an OpenLineage endpoint.

    A bearer token, if the endpoint needs one, comes from LINEAGE_EXPORT_TOKEN (never the command line).
    """

    from ..openlineage.export import export_events

    since = None
    if after:
        try:
            since = dt.datetime.fromisoformat(after.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise LineageError(f"--after {after!r} is not an ISO-8601 time") from None
    with DelayedProgress(f"exporting to {redact_url(to)}", unit="events") as progress:
        result = export_events(open_store(), to, endpoint, Settings.current().export_token, since, progress)
    typer.echo(f"sent {result.sent} event(s) to {redact_url(to)}")


@commands.command("lineage")
def lineage_cmd(
    node: Annotated[str, typer.Argument(help="A nodeId: job:<namespace>:<name> or dataset:<namespace>:<name>.")],
    upstream: Annotated[bool, typer.Option("--upstream", help="Only what it was made from.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only what was made from it.")] = False,
    depth: Annotated[int, typer.Option(help="How many hops.")] = 10,
    json_: JsonOpt = False,
) -> None:
    """The lineage graph around a job or dataset, from the ingested OpenLineage events."""
    from ..openlineage.graph import lineage, parse_node_id
    from ..openlineage.sync import sync_runs

    start = parse_node_id(node)
    store = open_store()
    sync_runs(store)
    direction = "upstream" if upstream and not downstream else "downstream" if downstream and not upstream else "both"
    graph = lineage(store, start, depth=depth, direction=direction)
    if json_:
        return print_json(graph)
    if len(graph["graph"]) == 1 and not graph["graph"][0]["inEdges"] and not graph["graph"][0]["outEdges"]:
        raise LineageError(f"no lineage recorded for {start}")
    from rich.tree import Tree

    by_id = {n["id"]: n for n in graph["graph"]}
    key = "inEdges" if direction == "upstream" else "outEdges"
    far = "origin" if key == "inEdges" else "destination"

    def grow(tree: Any, node_id: str, seen: set[str]) -> None:
        for edge in by_id[node_id][key]:
            child = edge[far]
            branch = tree.add(child)
            if child not in seen:
                grow(branch, child, seen | {child})

    root = Tree(str(start))
    grow(root, str(start), {str(start)})
    console().print(root)


@commands.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; auth is required off loopback.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 5000,
) -> None:
    """Run the lineage server (OpenLineage ingest; install the 'server' extra)."""
    try:
        import uvicorn
    except ImportError:
        raise LineageError("the server needs its extra: pip install 'lineage-core[server]'") from None
    from ..server.app import create_app
    from ..server.auth import is_loopback, load_tokens

    tokens = load_tokens()
    require_auth = not is_loopback(host)
    if require_auth and not tokens:
        raise LineageError(f"binding {host} needs LINEAGE_SERVER_TOKENS or LINEAGE_SERVER_TOKEN_FILE for writes")
    store = open_store()
    uvicorn.run(create_app(store, tokens, require_auth), host=host, port=port, log_level="warning")
