"""A KFP-style function's outputs as one cached value.

A function with ``Output[Model]``/``Output[Metrics]``/… parameters returns (at most) a KFP parameter; what it
produces is written to its output artifacts: files or directories at ``artifact.path`` and
``artifact.metadata``. :class:`OutputsStep` caches all of it: output artifacts are left out of the key (their
locations change every run), input artifacts are keyed by the content at ``artifact.path`` (or, when nothing
was downloaded there, by the remote object behind ``artifact.uri``), and the cached value is a directory
tree — one entry per output that was written, plus a JSON of the metadata and the return value — stored by the
core's path materializer (one content-addressed blob per file, verified on read). On a hit the tree is
restored into a private directory and moved into the task's output paths.

An ``Output[Metrics]``'s entries are also the run's metrics (``lineage_core.log_metric``, each a finite number):
``lineage runs --metrics`` and ``lineage compare`` show them, and a hit reports its source run's.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lineage_core.integration import CachedFunction, MaterializerError

if TYPE_CHECKING:
    from lineage_core.integration import CacheStore

INFO = "kfp-outputs.json"


def _content(value: Any) -> Any:
    """What the key hashes for an input artifact: its content, wherever it is."""
    from kfp import dsl

    if isinstance(value, dsl.Artifact):
        if os.path.exists(value.path):
            return Path(value.path)
        from lineage_core.integration import Uri  # a remote object: not on a hit path that has its file

        return Uri(value.uri)
    return value


def _private_bundle() -> Path:
    return Path(tempfile.mkdtemp(prefix="lineage-kfp-outputs-")) / "bundle"


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard links where the filesystem allows (a model of many GB is not copied twice), else copies."""
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, copy_function=link)
    else:
        link(str(src), str(dest))


class OutputsStep(CachedFunction[..., Path]):
    """``cached`` for a function that writes KFP output artifacts (see the module docstring)."""

    def __init__(self, fn: Callable[..., Any], outputs: dict[str, Any], **options: Any) -> None:
        self.kfp_outputs = outputs
        self.returns_metrics = bool(options.pop("metrics", False))  # the returned parameter: a metrics dict
        super().__init__(fn, exclude=[*options.pop("exclude", ()), *outputs], **options)

    def key_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {k: v if k in self.exclude else _content(v) for k, v in arguments.items()}

    def invoke(self, store: CacheStore, args: Any, kwargs: Any) -> Any:
        from lineage_core.integration import hash_path  # the miss path's (as metrics: a hit imports neither)

        value = super().invoke(store, args, kwargs)
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise MaterializerError(f"{self.name} returned {type(value).__name__}: a KFP output parameter must "
                                    f"be JSON (int, float, str, bool, dict, list): {e}") from None
        self._log_metrics(value)
        root = _private_bundle()
        root.mkdir()
        info: dict[str, Any] = {"return": value, "outputs": {}}
        for name, artifact in self.kfp_outputs.items():
            entry: dict[str, Any] = {"metadata": dict(artifact.metadata)}
            if os.path.lexists(artifact.path):
                _link_or_copy(Path(artifact.path), root / "files" / name)
                entry["hash"] = hash_path(root / "files" / name)
            info["outputs"][name] = entry
        (root / INFO).write_text(json.dumps(info, sort_keys=True), encoding="utf-8")
        return root

    def _log_metrics(self, value: Any) -> None:
        """Each entry of a ``system.Metrics`` output becomes a metric of this run (the cached call collects them),
        and with ``metrics=True`` each entry of the returned dict (what is cached here is the bundle, not it)."""
        from lineage_core import MetricError, log_metric

        if self.returns_metrics:
            if not isinstance(value, dict):
                raise MetricError(f"{self.name} is cached with metrics=True, so it must return a dict of metric "
                                  f"name to number; it returned a {type(value).__qualname__}")
            for metric, number in value.items():
                log_metric(metric, number)
        for name, artifact in self.kfp_outputs.items():
            if artifact.schema_title != "system.Metrics":
                continue
            for metric, value in dict(artifact.metadata).items():
                try:
                    log_metric(metric, value)
                except MetricError as e:
                    raise MetricError(f"{self.name}: output {name!r} (Metrics): {e}") from None

    def restore_destination(self) -> Path:
        """A hit restores into a directory of our own, never where another task may still be writing."""
        return _private_bundle()


def publish(bundle: Path, outputs: dict[str, Any], hit: bool, lineage: dict[str, str]) -> Any:
    """Write a cached bundle into the task's output artifacts (files only on a hit: on a miss the function
    wrote them) and return the function's return value. The bundle is removed."""
    try:
        info = json.loads((bundle / INFO).read_text(encoding="utf-8"))
        for name, artifact in outputs.items():
            entry = info["outputs"][name]
            if hit and "hash" in entry:
                dest = Path(artifact.path)
                if dest.is_dir():
                    shutil.rmtree(dest)
                elif os.path.lexists(dest):
                    dest.unlink()
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(bundle / "files" / name, dest)
            artifact.metadata.update(entry["metadata"])
            if not artifact.schema_title.endswith("Metrics"):  # a metrics artifact's metadata is its metrics
                artifact.metadata.update({**lineage, **({"lineage_hash": entry["hash"]} if "hash" in entry else {})})
        return info["return"]
    finally:
        shutil.rmtree(bundle.parent, ignore_errors=True)
