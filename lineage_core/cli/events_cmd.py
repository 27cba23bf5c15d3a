"""``lineage events show | ingest | flush | export``, ``lineage lineage`` and ``lineage serve``: OpenLineage
events in and out of the store, the lineage graph they make, and the server that speaks the protocol.
``events show`` and ``lineage`` also read from a lineage server (:mod:`.source`)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer

from ..errors import LineageError
from ..redact import redact_url
from ..settings import Settings, namespace
from .output import DelayedProgress, JsonOpt, console, no_lineage, open_store, print_json
from .source import open_source

commands = typer.Typer()
events_app = typer.Typer(no_args_is_help=True, help="OpenLineage events of stored runs.")


@events_app.command("show")
def events_show(run_id: str) -> None:
    """The OpenLineage RunEvents (START, then COMPLETE/FAIL/ABORT) of a run, as JSON lines."""
    for event in open_source().events(run_id):
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
    node: Annotated[str, typer.Argument(help="job:<namespace>:<name>, dataset:<namespace>:<name>, or a job's name "
                                             "in the default namespace ($LINEAGE_NAMESPACE).")],
    upstream: Annotated[bool, typer.Option("--upstream", help="Draw only what it was made from.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Draw only what was made from it.")] = False,
    depth: Annotated[int, typer.Option(min=0, max=100, help="How many hops (as the UI's depth).")] = 10,
    json_: JsonOpt = False,
) -> None:
    """The lineage graph around a job or dataset — the graph the Marquez UI draws — as a tree: upstream (what it
    was made from) and downstream (what was made from it). --json prints the graph itself."""
    from ..openlineage.graph import NodeId, parse_node_id

    text = node.strip()
    start = parse_node_id(text) if text.startswith(("job:", "dataset:")) else NodeId("job", namespace(), text)
    graph = open_source().lineage(start, depth)
    if json_:
        return print_json(graph)
    by_id = {n["id"]: n for n in graph["graph"]}
    if not by_id.get(str(start), {}).get("inEdges") and not by_id.get(str(start), {}).get("outEdges"):
        raise no_lineage(start)
    both = upstream == downstream
    console().print(lineage_tree(by_id, str(start), up=both or upstream, down=both or downstream))


def lineage_tree(by_id: dict[str, Any], start: str, up: bool, down: bool) -> Any:
    """A rich Tree of a Marquez graph from ``start``: one branch upstream (in-edges), one downstream (out-edges).
    A node met again (a diamond, a cycle) is named, not drawn twice."""
    from rich.text import Text
    from rich.tree import Tree

    def label(node_id: str, note: str = "") -> Text:  # the nodeId itself: what `lineage lineage` takes
        return Text.assemble((node_id, "bold" if node_id.startswith("job:") else "cyan"), (note, "dim"))

    root = Tree(label(start))
    for wanted, key, far, title in ((up, "inEdges", "origin", "upstream"),
                                    (down, "outEdges", "destination", "downstream")):
        if not wanted:
            continue
        branch = root.add(Text(title, style="italic"))
        drawn = {start}

        def grow(tree: Any, node_id: str, key: str = key, far: str = far, drawn: set[str] = drawn) -> None:
            for edge in by_id.get(node_id, {}).get(key, []):
                child = edge[far]
                if child in drawn:
                    tree.add(label(child, "  (shown above)"))
                    continue
                drawn.add(child)
                grow(tree.add(label(child)), child)

        grow(branch, start)
        if not branch.children:
            branch.add(Text("(nothing)", style="dim"))
    return root


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
