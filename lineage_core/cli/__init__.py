"""The ``lineage`` command line (typer + rich). Heavy imports happen inside commands."""

from .app import main

__all__ = ["main"]
