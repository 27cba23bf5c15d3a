"""``lineage``: inspect runs, explain hits and misses, diff runs, manage the cache, check the setup.

The root command assembles the command groups, one module each (``runs_cmd``, ``events_cmd``,
``cache_cmd``, ``audit_cmd``, ``setup_cmd``, ``exec_cmd``; what they share is in ``output``), in the order ``--help``
lists them. With ``LINEAGE_STORE_URL`` naming a lineage server, the read and admin commands ask it (``source``).
Bad input (an unknown run id, an unreachable store, a bad URL) prints one line and exits 2; a server that
refuses the token (401, 403) exits 3; passwords in URLs and tokens are never printed.
"""

from __future__ import annotations

import typer

from ..errors import LineageError
from ..redact import redact_url
from . import audit_cmd, cache_cmd, compare_cmd, events_cmd, exec_cmd, runs_cmd, setup_cmd, stats_cmd
from .env_cmd import commands as env_commands  # env
from .get_cmd import commands as get_commands  # get
from .server_source import ServerRefused
from .tags_cmd import commands as tag_commands  # tag, tags, rollback

EXIT_ERROR, EXIT_REFUSED = 2, 3

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Cached, traceable pipeline steps.")
for group in (runs_cmd.commands, compare_cmd.commands, events_cmd.commands, cache_cmd.commands, stats_cmd.commands,
              setup_cmd.commands, exec_cmd.commands):
    app.add_typer(group)  # no name: the group's commands are the root's own
app.add_typer(env_commands)
app.add_typer(get_commands)
app.add_typer(tag_commands)
app.add_typer(cache_cmd.cache_app, name="cache")
app.add_typer(audit_cmd.audit_app, name="audit")
app.add_typer(events_cmd.events_app, name="events")


def main() -> None:
    try:
        app(standalone_mode=False)
    except LineageError as e:
        typer.secho(f"error: {_one_line(str(e))}", fg="red", err=True)
        raise SystemExit(EXIT_REFUSED if isinstance(e, ServerRefused) else EXIT_ERROR) from None
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
