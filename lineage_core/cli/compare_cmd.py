"""``lineage compare RUN...``: runs side by side — parameters, metrics, environment — with what differs marked, and
``--plot METRIC -o FILE.png`` to draw a metric across them (matplotlib, the ``plot`` extra).

Written once against :class:`~.source.Source` (the database or a lineage server): each run as ``Source.run`` gives
it (its key manifest's parameter displays, its metrics — a hit's are its source run's) and the environment it
recorded. A row whose values are not all the same is marked ``≠`` (and coloured on a terminal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError
from .output import JsonOpt, console, print_json, when
from .runs_cmd import metric_text
from .source import Source, open_source

commands = typer.Typer()
MAX_RUNS = 50
_ENV_FIELDS = (("python", "python"), ("implementation", "implementation"), ("platform", "platform"),
               ("machine", "machine"), ("image", "image_digest"))


def describe(src: Source, run_id: str) -> dict[str, Any]:
    """One run as compare shows it: identity, parameters, metrics and the environment it recorded."""
    run = src.run(run_id)
    env = src.environment(run["id"]) or {}
    manifest = run.get("manifest") or {}
    return {
        "id": run["id"], "job": run["job"], "namespace": run["namespace"], "status": run["status"],
        "started_at": run["started_at"], "source_run_id": run["source_run_id"],
        "params": dict(manifest.get("display") or {}), "metrics": dict(run.get("metrics") or {}),
        "environment": {**{label: env.get(name) for label, name in _ENV_FIELDS},
                        "git commit": (env.get("git") or {}).get("commit"),
                        "packages": dict(env.get("packages") or {})},
    }


def _rows(runs: list[dict[str, Any]], all_packages: bool) -> dict[str, list[tuple[str, list[Any]]]]:
    """Section -> [(row label, one value per run)]; packages only where they differ unless ``all_packages``."""
    def union(section: str) -> list[str]:
        return sorted({k for r in runs for k in r[section]})

    env_keys = [k for k in runs[0]["environment"] if k != "packages"]
    packages = sorted({p for r in runs for p in r["environment"]["packages"]})
    package_rows = [(f"package {p}", [r["environment"]["packages"].get(p) for r in runs]) for p in packages]
    return {
        "parameters": [(k, [r["params"].get(k) for r in runs]) for k in union("params")],
        "metrics": [(k, [r["metrics"].get(k) for r in runs]) for k in union("metrics")],
        "environment": [(k, [r["environment"].get(k) for r in runs]) for k in env_keys]
        + [row for row in package_rows if all_packages or len(set(row[1])) > 1],
    }


def comparison(runs: list[dict[str, Any]], all_packages: bool = False) -> dict[str, Any]:
    """The runs and, per section, the rows whose values differ (what ``--json`` prints)."""
    rows = _rows(runs, all_packages)
    return {"runs": runs, "differs": {s: [label for label, values in rs if len(set(map(repr, values))) > 1]
                                      for s, rs in rows.items()}}


def _text(section: str, value: Any) -> str:
    if value is None:
        return "-"
    return metric_text(value) if section == "metrics" else str(value)


def print_table(runs: list[dict[str, Any]], all_packages: bool) -> None:
    from rich.table import Table

    table = Table("", *[r["id"] for r in runs], title="≠ marks what differs")
    for label, values in (("job", [f"{r['namespace']}/{r['job']}" for r in runs]),
                          ("status", [r["status"] + (" (value of its source run)" if r["source_run_id"] else "")
                                      for r in runs]),
                          ("started", [when(r["started_at"]) for r in runs])):
        table.add_row(label, *values)
    for section, rows in _rows(runs, all_packages).items():
        table.add_section()
        table.add_row(f"[bold]{section}[/]", *["" for _ in runs])
        for label, values in rows:
            differs = len(set(map(repr, values))) > 1
            style = "bold yellow" if differs else None
            table.add_row(("≠ " if differs else "  ") + label, *[_text(section, v) for v in values], style=style)
        if section == "environment" and not all_packages:
            same = len({p for r in runs for p in r["environment"]["packages"]}) - sum(
                1 for label, _ in rows if label.startswith("package "))
            table.add_row(f"  {same} packages", *["same" for _ in runs])
    console().print(table)


def write_plot(runs: list[dict[str, Any]], metric: str, path: Path) -> int:
    """A PNG of ``metric`` across the runs (in the order given); returns how many runs have it."""
    points = [(i, r["metrics"][metric]) for i, r in enumerate(runs) if metric in r["metrics"]]
    if not points:
        known = sorted({m for r in runs for m in r["metrics"]})
        raise ConfigError(f"no run compared has metric {metric!r} (they have: {', '.join(known) or 'no metrics'})")
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'lineage-core[plot]'") from None
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(runs)), 3.5), dpi=100)
    try:
        ax.plot([i for i, _ in points], [v for _, v in points], marker="o")
        ax.set_xticks(range(len(runs)), [f"{r['id'][-8:]}\n{when(r['started_at'])[5:16]}" for r in runs],
                      fontsize=7)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} across {len(runs)} runs" + (f" of {runs[0]['job']}"
                                                           if len({r["job"] for r in runs}) == 1 else ""))
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return len(points)


@commands.command()
def compare(
    run_ids: Annotated[list[str] | None, typer.Argument(help="Runs (ids or unique prefixes), in this order.",
                                                        metavar="RUN...", show_default=False)] = None,
    job: Annotated[str | None, typer.Option(help="Compare the latest runs of this job (oldest first).")] = None,
    limit: Annotated[int, typer.Option(help="With --job: how many of its latest runs.", min=1,
                                       max=MAX_RUNS)] = 10,
    plot: Annotated[str | None, typer.Option(help="Write a PNG of this metric across the runs.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where --plot writes (default "
                                                "METRIC.png).")] = None,
    all_packages: Annotated[bool, typer.Option("--all-packages", help="List every package, not only those "
                                               "that differ.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Runs side by side: parameters, metrics and environment, marking what differs."""
    src = open_source()
    ids = list(run_ids or [])
    if job is not None:
        ids += [r["id"] for r in reversed(src.runs(job, limit))]
    if not ids:
        raise ConfigError("name the runs to compare (lineage compare RUN RUN...) or a job (--job JOB)")
    if len(ids) > MAX_RUNS:
        raise ConfigError(f"{len(ids)} runs: compare at most {MAX_RUNS} at once")
    if output is not None and plot is None:
        raise ConfigError("-o/--output is where --plot writes: give --plot METRIC")
    runs = [describe(src, i) for i in ids]
    if plot is not None:
        path = output or Path(f"{plot}.png")
        n = write_plot(runs, plot, path)
        typer.echo(f"wrote {path} ({plot} of {n} of {len(runs)} runs)", err=json_)
    if json_:
        return print_json(comparison(runs, all_packages))
    print_table(runs, all_packages)
