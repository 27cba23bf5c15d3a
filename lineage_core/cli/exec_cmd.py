"""``lineage exec -- CMD…``: the in-container entrypoint of cached command steps (see ``lineage_core.execution``)."""

from __future__ import annotations

from typing import Annotated

import typer

commands = typer.Typer()


@commands.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
def exec_(
    command: Annotated[list[str], typer.Argument(help="The command and its arguments (after --).")],
    name: Annotated[str | None, typer.Option(help="Job name when run on its own (default: the program).")] = None,
    input_: Annotated[list[str] | None, typer.Option("--input", help="A declared input URI (repeatable).")] = None,
    output: Annotated[list[str] | None, typer.Option(help="A declared output URI or prefix (repeatable).")] = None,
    result: Annotated[str | None, typer.Option(help="Write the result JSON here (default $LINEAGE_EXEC_RESULT).")]
    = None,
) -> None:
    """Run a command as a recorded, cached step: under an orchestrator's plan (env LINEAGE_EXEC) inside a pod,
    or on its own, where a hit does not run the command. Exits with the command's status."""
    from ..commands import read_plan
    from ..errors import ConfigError
    from ..execution import exec_command

    if read_plan() is None and not output:
        raise ConfigError("lineage exec on its own needs --output for each output the command writes "
                          "(a hit returns them without running it)")
    raise SystemExit(exec_command(command, name=name, inputs=input_ or (), outputs=output or (), result_path=result))
