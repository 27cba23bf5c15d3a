"""``lineage tag | tags | rollback``: name a good run, list tags and their history, and move a tag back when a
later run broke — printing what changes between the two runs (``lineage diff``'s words). On the store's database
or on a lineage server (:mod:`.source`: reading tags needs a ``read`` token, moving one an ``admin`` token)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import ConfigError, LineageError
from .output import JsonOpt, console, print_json, when
from .source import open_source

commands = typer.Typer()


def split_tag(ref: str) -> tuple[str, str]:
    """``JOB@NAME`` -> (job, name); a ConfigError for anything else."""
    job, at, name = ref.rpartition("@")
    if not at or not job or not name:
        raise ConfigError(f"{ref!r} is not a tag: write JOB@NAME (e.g. train@prod)")
    return job, name


@commands.command()
def tag(run_id: Annotated[str, typer.Argument(help="A run id, unique prefix or JOB@NAME.")],
        name: Annotated[str, typer.Argument(help="The tag, e.g. prod or baseline.")],
        job: Annotated[str | None, typer.Option(help="The job the tag lives in (default: the run's).")] = None,
        json_: JsonOpt = False) -> None:
    """Point a tag at a run (JOB@NAME then names that run everywhere); the move is kept in the tag's history, and
    the tagged run is pinned against gc while the tag points at it."""
    move = open_source().move_tag(run_id, name, job, "tag")
    if json_:
        return print_json(move)
    was = f" (was {move['from_run_id']})" if move["from_run_id"] else ""
    typer.echo(f"tagged {move['job']}@{move['name']} → {move['to_run_id']}{was}")


@commands.command("tags")
def list_tags(job: Annotated[str | None, typer.Option(help="Only tags of this job.")] = None,
              history: Annotated[str | None, typer.Option("--history", help="Every move of one tag: JOB@NAME.")]
              = None, json_: JsonOpt = False) -> None:
    """List tags (or, with --history JOB@NAME, every move of one: who, when, from which run, to which run)."""
    source = open_source()
    if history:
        tag_job, tag_name = split_tag(history)
        moves = source.tag_history(tag_job, tag_name)
        if json_:
            return print_json(moves)
        for m in moves:
            typer.echo(f"{when(m['at'])}  {m['action']:<8} {m['from_run_id'] or '-':<36} → {m['to_run_id']}  "
                       f"by {m['by']}")
        return None
    rows = source.tags(job, None)
    if json_:
        return print_json(rows)
    from rich.table import Table

    table = Table("tag", "run", "moved", "by")
    for r in rows:
        table.add_row(f"{r['job']}@{r['name']}", r["run_id"], when(r["updated_at"]), r["updated_by"])
    console().print(table)
    return None


@commands.command()
def rollback(ref: Annotated[str, typer.Argument(help="The tag to move back: JOB@NAME.")],
             to: Annotated[str | None, typer.Option("--to", help="Move it to this run (id, prefix or tag).")] = None,
             previous: Annotated[bool, typer.Option("--previous", help="Move it to the run tagged before the "
                                                                       "current one (the default).")] = False,
             json_: JsonOpt = False) -> None:
    """Move a tag back — to a given run, or to the run it named before — and print what changes between the two
    runs: code, parameters, inputs, environment."""
    from ..tags import previous_run

    if to and previous:
        raise ConfigError("give --to RUN or --previous, not both")
    job, name = split_tag(ref)
    source = open_source()
    namespace = source.run(ref)["namespace"]  # the tag resolves (an ambiguous one is refused here)
    if job.partition(":")[0] == namespace:  # NAMESPACE:JOB@NAME
        job = job.partition(":")[2]
    moves = [m for m in source.tag_history(job, name) if m["namespace"] == namespace]
    current = str(moves[0]["to_run_id"])
    target = str(source.run(to)["id"]) if to else previous_run(moves)
    if target == current:
        raise LineageError(f"{ref} already points at {current}")
    move = source.move_tag(target, name, moves[0]["job"], "rollback")
    if json_:
        return print_json({"move": move, "diff": source.diff(current, target)})
    typer.echo(f"rolled back {move['job']}@{move['name']}: {current} → {target}")
    from .runs_cmd import diff

    diff(current, target)  # `lineage diff`'s own words, for the two runs
    return None
