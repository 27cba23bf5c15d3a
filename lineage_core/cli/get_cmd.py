"""``lineage get RUN [-o PATH] [--output NAME] [--json]``: a run's stored result, verified, on disk — an array as
``.npy``, a DataFrame as Parquet, JSON as JSON, a tree as a tree, any other value in its materializer's file form,
a pod's outputs by name (:mod:`lineage_core.load`); a registered materializer's value once ``--import`` has loaded
the module that registers it. The blobs are read from the store the environment names (the
database's artifact store, or a lineage server's store API with a ``cache`` token)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .output import JsonOpt, print_json

commands = typer.Typer()


@commands.command()
def get(run_id: Annotated[str, typer.Argument(help="A run id, unique prefix or JOB@NAME.")],
        out: Annotated[Path | None, typer.Option("-o", "--out", help="The file or directory to write (default: "
                                                                      "the current directory).")] = None,
        output: Annotated[str | None, typer.Option("--output", help="A pod's output, by name or URI.")] = None,
        allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Write a pickled result too (it is "
                                                                          "never unpickled here).")] = False,
        imports: Annotated[list[str] | None, typer.Option("--import", help="A module to import first: one that "
                                                          "registers the materializer the result needs.")] = None,
        json_: JsonOpt = False) -> None:
    """Write a run's stored result (a CACHED run's: its source run's), verified byte for byte; --json prints what
    it stored instead (materializer, hash, size, meta, or a pod's outputs)."""
    import importlib

    from ..errors import ConfigError
    from ..load import locate, write
    from ..runtime import default_store

    for name in imports or ():  # the caller's choice of code to trust, as a step's own imports are
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ConfigError(f"--import {name}: {e}") from None
    store = default_store()
    result = locate(store, run_id)
    if json_:
        return print_json(result.to_dict())
    for path in write(store, result, out if out is not None else Path.cwd(), allow_pickle, output):
        typer.echo(f"{path}")
    return None
