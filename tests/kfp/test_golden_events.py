"""Golden OpenLineage events of the train pipeline under kfp.local (each cached task's own START/COMPLETE
through the standard client configuration): first run all misses, second run all hits. See tests/golden.py."""

from __future__ import annotations

from pathlib import Path

from ..golden import check_golden
from .test_kfp_lineage import events_file, read  # noqa: F401 - the file-transport fixture

HERE = Path(__file__).resolve().parent


def test_train_pipeline_events_are_the_golden_ones(kfp_local: Path, events_file: Path) -> None:  # noqa: F811
    from kfp_components.pipelines.train_pipeline import train_pipeline

    train_pipeline()
    first = read(events_file)
    check_golden(HERE, "train_pipeline.first_run", first)
    train_pipeline()
    check_golden(HERE, "train_pipeline.second_run", read(events_file)[len(first):])
