"""``lineage doctor | hash``: the store's health, content hashes (``lineage env`` is :mod:`.env_cmd`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import LineageError
from ..redact import redact_url
from .output import DelayedProgress, open_store

commands = typer.Typer()


@commands.command()
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


@commands.command("hash")
def hash_cmd(paths: list[str]) -> None:
    """Content hash of files or directories (unchanged files come from the stat cache)."""
    from ..hashing import hash_path

    store = open_store()
    for p in paths:
        with DelayedProgress(f"hashing {p}") as progress:
            try:
                digest = hash_path(p, store, progress)
            except FileNotFoundError:
                raise LineageError(f"no such file or directory: {p}") from None
        typer.echo(f"{digest}  {p}")
