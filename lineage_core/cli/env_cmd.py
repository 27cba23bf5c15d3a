"""``lineage env [RUN] [--requirements | --diff-current] [--json]``: an environment snapshot — this interpreter's,
or the one a run recorded — as a summary, as a ``requirements.txt`` that rebuilds it (exact versions; the Python
version and image digest as comments), or as what differs from this interpreter (:func:`~lineage_core.diff
.diff_environments`, the words ``lineage diff`` uses). A run's comes from the store's database or a lineage server
(:mod:`.source`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigError, LineageError
from .output import JsonOpt, print_json
from .source import open_source

if TYPE_CHECKING:
    from ..environment import EnvironmentSnapshot

commands = typer.Typer()


@commands.command()
def env(run_id: Annotated[str | None, typer.Argument(help="A run (id, prefix or JOB@NAME); default: this "
                                                           "interpreter.")] = None,
        requirements: Annotated[bool, typer.Option("--requirements", help="Print a requirements.txt of it.")] = False,
        diff_current: Annotated[bool, typer.Option("--diff-current", help="What differs from this interpreter.")]
        = False, json_: JsonOpt = False) -> None:
    """An environment snapshot (secrets redacted): this interpreter's, or the one RUN recorded."""
    from ..diff import diff_environments
    from ..environment import EnvironmentSnapshot, capture_environment

    if requirements and diff_current:
        raise ConfigError("give --requirements or --diff-current, not both")
    if (requirements or diff_current) and run_id is None:
        raise ConfigError("--requirements and --diff-current need a RUN")
    label = "this interpreter"
    if run_id is None:
        snap = capture_environment()
    else:
        source = open_source()
        run = source.run(run_id)
        recorded = source.environment(run["id"])
        if recorded is None:
            raise LineageError(f"run {run['id']} recorded no environment")
        snap, label = EnvironmentSnapshot.from_dict(recorded), f"run {run['id']} ({run['namespace']}/{run['job']})"
    if requirements:
        typer.echo(requirements_txt(snap, label), nl=False)
        return None
    if diff_current:
        changes = diff_environments(snap, capture_environment())
        if json_:
            return print_json({"added": changes.added, "removed": changes.removed, "changed": changes.changed,
                               "other": changes.other})
        typer.echo(f"{label} → this interpreter")
        for line in changes.lines() or ["no differences"]:
            typer.echo(f"  {line}")
        return None
    if json_:
        return print_json(snap.to_dict())
    typer.echo(f"python {snap.python} ({snap.implementation}) on {snap.platform} {snap.machine}")
    typer.echo(f"packages {len(snap.packages)} (set {snap.packages_hash[:20]}…)")
    typer.echo(f"image {snap.image_digest or '-'}  gpu {snap.gpu or '-'}  git {snap.git or '-'}")
    for k, v in snap.env_vars.items():
        typer.echo(f"  {k}={v}")
    return None


def requirements_txt(snap: EnvironmentSnapshot, label: str) -> str:
    """Pins of every recorded distribution (``name==version``, by name), headed by what pip cannot install: the
    interpreter, the platform and the image it ran in."""
    lines = [f"# the environment {label} recorded (lineage env --requirements)",
             f"# python {snap.python} ({snap.implementation}) on {snap.platform} {snap.machine}",
             f"# image {snap.image_digest}" if snap.image_digest else "# image: none recorded"]
    if snap.git.get("commit"):
        lines.append(f"# git {snap.git['commit']}{' (dirty)' if snap.git.get('dirty') else ''}")
    lines += [f"{name}=={version}" for name, version in sorted(snap.packages.items())]
    return "\n".join(lines) + "\n"
