"""``lineage cache ls | invalidate | gc | verify`` and ``lineage pin | unpin``: the cache entries, retention,
and the scrub that re-hashes stored blobs. All but ``verify`` (which reads the blobs themselves) work on the
store's database or on a lineage server (:mod:`.source`; invalidate, gc and pins need an ``admin`` token there)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import LineageError
from .output import DelayedProgress, JsonOpt, console, open_store, print_json, when
from .source import open_source

commands = typer.Typer()
cache_app = typer.Typer(no_args_is_help=True, help="List, invalidate and verify cache entries.")


@commands.command()
def pin(run_id: str, note: Annotated[str | None, typer.Option(help="Why it is kept.")] = None) -> None:
    """Keep a run and the value it produced or served, whatever the retention rules say."""
    typer.echo(f"pinned {open_source().pin(run_id, note)}")


@commands.command()
def unpin(run_id: str) -> None:
    """Let retention treat a run like any other again."""
    typer.echo(f"unpinned {open_source().unpin(run_id)}")


@cache_app.command("ls")
def cache_ls(job: Annotated[str | None, typer.Option()] = None, json_: JsonOpt = False) -> None:
    """List cache entries, newest first."""
    rows = open_source().entries(job)
    if json_:
        return print_json(rows)
    from rich.table import Table

    table = Table("key", "job", "run", "materializer", "size", "created", "state")
    for r in rows:
        state = "invalidated" if r["tombstoned_at"] else "valid"
        table.add_row(r["key"][:24], r["name"], r["run_id"], r["materializer"], str(r["size"]),
                      when(r["created_at"]), state)
    console().print(table)


@cache_app.command("invalidate")
def cache_invalidate(key: Annotated[str | None, typer.Argument(help="A key or key prefix.")] = None,
                     job: Annotated[str | None, typer.Option(help="Every entry of this job.")] = None) -> None:
    """Invalidate entries by key (prefix) or by job; the next call recomputes."""
    if not key and not job:
        raise LineageError("give a KEY or --job NAME")
    n = open_source().invalidate(key, job)
    typer.echo(f"invalidated {n} entr{'y' if n == 1 else 'ies'}")


@cache_app.command("gc")
def cache_gc(
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Expire entries and finished runs created before this "
                                                      "(30d, 12h); --keep-last and pins still protect theirs.")
    ] = None,
    keep_last: Annotated[
        int | None, typer.Option("--keep-last", help="Protect the newest N valid entries of each job whatever the "
                                                     "other rules say; given alone, remove every entry beyond them.")
    ] = None,
    grace: Annotated[
        str, typer.Option(help="Never sweep blobs younger than this (protects concurrent writers).")
    ] = "1h",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed, and why.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Remove invalidated entries, entries and runs the rules expire, and unreferenced blobs. The newest
    --keep-last entries of each job, pinned runs and tagged runs are never removed."""
    from ..retention import parse_duration, plan_lines

    for text in (older_than, grace):  # refused here, in the same words, whoever collects
        if text:
            parse_duration(text)
    report = open_source().gc(older_than, keep_last, grace, dry_run)
    if json_:
        return print_json(report)
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb}: {report['entries']} entries, {report['runs']} runs, {report['artifacts']} artifacts, "
               f"{report['blobs']} blobs ({report['bytes'] / 2**20:.1f} MiB); kept {report['kept_pinned']} pinned"
               + (f", {report['kept_recent']} among the newest {keep_last}" if report.get("kept_recent") else ""))
    if dry_run:
        for line in plan_lines(report["plan"]):
            typer.echo(f"  {line}")


@cache_app.command("verify")
def cache_verify(
    sample: Annotated[
        float, typer.Option("--sample", help="Check this fraction of the artifacts, chosen at random (0..1).")
    ] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Choose the sample reproducibly.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Re-hash stored blobs in full (no stat trusted) and tombstone the entries whose blobs are damaged, so bit
    rot is found before a hit meets it. Exits 1 when it found damage (the entries are tombstoned: the next
    call recomputes), 0 when everything checked is sound."""
    from ..scrub import scrub

    store = open_store()
    if json_:
        report = scrub(store, sample, seed)
        print_json(report.to_dict())
    else:
        with DelayedProgress("verifying blobs", unit="blobs") as bar:
            report = scrub(store, sample, seed, bar)
        for f in report.bad:
            typer.echo(f"bad: {f.blob}{'' if f.blob == f.artifact else f' (in tree {f.artifact})'}: {f.problem}")
        typer.echo(f"verified {report.checked} of {report.artifacts} artifacts ({report.blobs} blobs, "
                   f"{report.bytes / 2**20:.1f} MiB): {len(report.bad)} bad, {report.tombstoned} "
                   f"entr{'y' if report.tombstoned == 1 else 'ies'} tombstoned")
    if report.bad:
        raise SystemExit(1)
