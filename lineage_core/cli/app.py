"""``lineage``: inspect runs, explain hits and misses, diff runs, manage the cache, check the setup.

Bad input (an unknown run id, an unreachable store, a bad URL) prints one line and exits non-zero;
passwords in URLs are never printed.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import LineageError
from ..redact import redact_url

if TYPE_CHECKING:
    from ..store import Store

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Cached, traceable pipeline steps.")
cache_app = typer.Typer(no_args_is_help=True, help="List and invalidate cache entries.")
app.add_typer(cache_app, name="cache")
events_app = typer.Typer(no_args_is_help=True, help="OpenLineage events of stored runs.")
app.add_typer(events_app, name="events")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _store() -> Store:
    from ..store import Store

    return Store.default()


def _console() -> Any:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)  # logs and pipes get whole ids


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=True) + "\n")


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@app.command()
def runs(job: Annotated[str | None, typer.Option(help="Only runs of this job.")] = None,
         limit: int = 50, json_: JsonOpt = False) -> None:
    """List recent runs, newest first."""
    rows = _store().runs(job=job, limit=limit)
    if json_:
        return _print_json(rows)
    from rich.table import Table

    table = Table("run", "job", "status", "started", "duration", "key")
    for r in rows:
        dur = f"{(r['ended_at'] - r['started_at']) * 1000:.0f} ms" if r["ended_at"] else "-"
        status = r["status"] + (f" ← {r['source_run_id'][:13]}…" if r["source_run_id"] else "")
        table.add_row(r["id"], r["job"], status, _when(r["started_at"]), dur, (r["cache_key"] or "")[:18])
    _console().print(table)


@app.command()
def show(run_id: str, json_: JsonOpt = False) -> None:
    """Show one run: status, key, reasons, environment."""
    store = _store()
    run = store.get_run(run_id)
    data = {**run, "manifest": store.manifest(run["cache_key"]) if run["cache_key"] else None}
    if json_:
        return _print_json(data)
    con = _console()
    con.print(f"[bold]{run['id']}[/] {run['namespace']}/{run['job']} [bold]{run['status']}[/]")
    con.print(f"  started {_when(run['started_at'])}  ended {_when(run['ended_at'])}")
    con.print(f"  key {run['cache_key']}")
    if run["source_run_id"]:
        con.print(f"  value from run {run['source_run_id']}")
    for reason in run["reasons"] or []:
        con.print(f"  • {reason}")
    if run["error"]:
        con.print(f"  [red]error[/] {run['error']}")
    m = data["manifest"]
    if m:
        con.print(f"  params {m['display']}")
        con.print(f"  env {m['env'].get('policy')}: python {m['env'].get('python', '-')} "
                  f"packages {m['env'].get('packages', {}) if m['env'].get('policy') != 'full' else '(full set)'}")


@app.command()
def explain(run_id: str, json_: JsonOpt = False) -> None:
    """Why a run was a cache hit or a miss, in plain words."""
    run = _store().get_run(run_id)
    hit = run["status"] == "CACHED"
    reasons = run["reasons"] or []
    if json_:
        return _print_json({"run_id": run["id"], "hit": hit, "source_run_id": run["source_run_id"], "reasons": reasons})
    verdict = "hit" if hit else "miss"
    typer.echo(f"{run['job']} run {run['id']}: cache {verdict}")
    for r in reasons:
        typer.echo(f"  - {r}")


@app.command()
def diff(run_a: str, run_b: str, json_: JsonOpt = False) -> None:
    """What differs between two runs: code, parameters, inputs, environment."""
    from ..diff import diff_runs

    d = diff_runs(_store(), run_a, run_b)
    if json_:
        return _print_json(d.to_dict())
    typer.echo(f"{d.a} → {d.b}")
    if d.same_key:
        typer.echo("  same cache key")
    for line in d.key:
        typer.echo(f"  key: {line}")
    for line in d.environment:
        typer.echo(f"  env: {line}")
    if not d.key and not d.environment and d.same_key:
        typer.echo("  no differences")


@cache_app.command("ls")
def cache_ls(job: Annotated[str | None, typer.Option()] = None, json_: JsonOpt = False) -> None:
    """List cache entries, newest first."""
    rows = _store().entries(job=job)
    if json_:
        return _print_json(rows)
    from rich.table import Table

    table = Table("key", "job", "run", "materializer", "size", "created", "state")
    for r in rows:
        state = "invalidated" if r["tombstoned_at"] else "valid"
        table.add_row(r["key"][:24], r["name"], r["run_id"], r["materializer"], str(r["size"]),
                      _when(r["created_at"]), state)
    _console().print(table)


@cache_app.command("invalidate")
def cache_invalidate(key: Annotated[str | None, typer.Argument(help="A key or key prefix.")] = None,
                     job: Annotated[str | None, typer.Option(help="Every entry of this job.")] = None) -> None:
    """Invalidate entries by key (prefix) or by job; the next call recomputes."""
    if not key and not job:
        raise LineageError("give a KEY or --job NAME")
    n = _store().invalidate(key=key, job=job)
    typer.echo(f"invalidated {n} entr{'y' if n == 1 else 'ies'}")


@cache_app.command("gc")
def cache_gc(
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Remove entries and runs older than this (30d, 12h).")
    ] = None,
    keep_last: Annotated[
        int | None, typer.Option("--keep-last", help="Keep only the newest N entries per job.")
    ] = None,
    grace: Annotated[
        str, typer.Option(help="Never sweep blobs younger than this (protects concurrent writers).")
    ] = "1h",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would be removed.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Remove expired entries, runs beyond retention and unreferenced blobs; pins are never removed."""
    from ..retention import collect_garbage, parse_duration

    report = collect_garbage(
        _store(), older_than=parse_duration(older_than) if older_than else None, keep_last=keep_last,
        grace=parse_duration(grace), dry_run=dry_run,
    )
    if json_:
        return _print_json(report.to_dict())
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb}: {report.entries} entries, {report.runs} runs, {report.artifacts} artifacts, "
               f"{report.blobs} blobs ({report.bytes / 2**20:.1f} MiB); kept {report.kept_pinned} pinned")


@events_app.command("show")
def events_show(run_id: str) -> None:
    """The OpenLineage RunEvents (START, then COMPLETE/FAIL/ABORT) of a run, as JSON lines."""
    from ..openlineage.records import run_events

    for event in run_events(_store(), run_id):
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
    result = ingest(_store(), data)
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
    import os

    from ..openlineage.export import export_events

    since = None
    if after:
        try:
            since = dt.datetime.fromisoformat(after.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise LineageError(f"--after {after!r} is not an ISO-8601 time") from None
    with _DelayedProgress(f"exporting to {redact_url(to)}", unit="events") as progress:
        result = export_events(_store(), to, endpoint, os.environ.get("LINEAGE_EXPORT_TOKEN"), since, progress)
    typer.echo(f"sent {result.sent} event(s) to {redact_url(to)}")


@app.command("lineage")
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
    store = _store()
    sync_runs(store)
    direction = "upstream" if upstream and not downstream else "downstream" if downstream and not upstream else "both"
    graph = lineage(store, start, depth=depth, direction=direction)
    if json_:
        return _print_json(graph)
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
    _console().print(root)


@app.command()
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
    store = _store()
    uvicorn.run(create_app(store, tokens, require_auth), host=host, port=port, log_level="warning")


@app.command()
def pin(run_id: str, note: Annotated[str | None, typer.Option(help="Why it is kept.")] = None) -> None:
    """Keep a run and the value it produced or served, whatever the retention rules say."""
    from ..retention import pin as pin_run

    typer.echo(f"pinned {pin_run(_store(), run_id, note)}")


@app.command()
def unpin(run_id: str) -> None:
    """Let retention treat a run like any other again."""
    from ..retention import unpin as unpin_run

    typer.echo(f"unpinned {unpin_run(_store(), run_id)}")


@app.command()
def env(json_: JsonOpt = False) -> None:
    """The environment snapshot of this interpreter (secrets redacted)."""
    from ..environment import capture_environment

    snap = capture_environment()
    if json_:
        return _print_json(snap.to_dict())
    typer.echo(f"python {snap.python} ({snap.implementation}) on {snap.platform} {snap.machine}")
    typer.echo(f"packages {len(snap.packages)} (set {snap.packages_hash[:20]}…)")
    typer.echo(f"image {snap.image_digest or '-'}  gpu {snap.gpu or '-'}  git {snap.git or '-'}")
    for k, v in snap.env_vars.items():
        typer.echo(f"  {k}={v}")


@app.command()
def doctor(migrate: Annotated[bool, typer.Option("--migrate", help="Apply pending migrations.")] = False) -> None:
    """Check the store is reachable, its migrations current and the artifact store writable."""
    from .. import settings
    from ..store import Store
    from ..store.metadata import HEAD_REVISION

    url = settings.store_url()
    typer.echo(f"store      {redact_url(url)}")
    store = Store.from_url(url, settings.artifacts_url(), migrate=False)
    rev = store.current_revision()
    typer.echo("reachable  yes")
    if rev != HEAD_REVISION and migrate:
        store.migrate()
        rev = store.current_revision()
    if rev != HEAD_REVISION:
        raise LineageError(f"migrations not current (at {rev}, head {HEAD_REVISION}): run lineage doctor --migrate")
    typer.echo(f"migrations current ({rev})")
    store.artifacts.check_writable()
    typer.echo(f"artifacts  {redact_url(store.artifacts.url)} writable")


@app.command("hash")
def hash_cmd(paths: list[str]) -> None:
    """Content hash of files or directories (unchanged files come from the stat cache)."""
    from ..hashing import hash_path

    store = _store()
    for p in paths:
        with _DelayedProgress(f"hashing {p}") as progress:
            try:
                digest = hash_path(p, store, progress)
            except FileNotFoundError:
                raise LineageError(f"no such file or directory: {p}") from None
        typer.echo(f"{digest}  {p}")


class _DelayedProgress:
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
                                transient=True, console=_console())
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def __enter__(self) -> _DelayedProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def main() -> None:
    try:
        app(standalone_mode=False)
    except LineageError as e:
        typer.secho(f"error: {_one_line(str(e))}", fg="red", err=True)
        raise SystemExit(2) from None
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    except Exception as e:  # noqa: BLE001 - the CLI prints one line, never a traceback
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            raise SystemExit(e.exit_code) from None
        typer.secho(f"error: {type(e).__name__}: {_one_line(str(e))}", fg="red", err=True)
        raise SystemExit(1) from None


def _one_line(message: str) -> str:
    return " ".join(redact_url(message).split())


from . import exec_cmd  # noqa: E402,F401  (registers ``lineage exec`` on the app)
