"""Any run's stored result back out, verified: ``lineage_core.load(RUN_OR_TAG)`` in Python, ``lineage get`` on disk.

A run is named by id, unique prefix or tag (``JOB@NAME``); a CACHED run stands for the value of the run that
produced it. What a run stored is what it recorded as its outputs (``run_datasets``, written with the run): a
function step's one value (an artifact of the store, loaded by the exact materializer that wrote it — a built-in
or one registered in this process, pickle only when the caller allows it, as a step must opt in), or a command's
(a pod's) declared outputs (URIs with their content hashes), listed and fetched by name. Every byte is verified
against its recorded hash before it is returned or written: a damaged blob, or an output overwritten since the run
wrote it, is an error naming the run, never wrong bytes. The same policy a hit has (:mod:`.refs`, the client's
choice of how to load); this module only finds what a run stored and says which run an error is about.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArtifactError, ConfigError, IntegrityError, MaterializerError
from .refs import ArtifactRef
from .status import RunStatus

if TYPE_CHECKING:
    from .store.protocol import CacheStore, StoredArtifact

# The file form of each built-in materializer's blob (a registered one may name its own with a ``suffix``).
SUFFIX = {"numpy": ".npy", "pandas-parquet": ".parquet", "json": ".json", "str": ".txt", "bytes": ".bin",
          "pickle": ".pkl"}


@dataclass(frozen=True)
class RunResult:
    """What one run stored: its value (``artifact``) or, for a command, its outputs (URI -> content hash)."""

    run_id: str  # the run asked for
    source_run_id: str  # the run that produced it (itself, or a hit's source)
    namespace: str
    job: str
    status: str
    artifact: StoredArtifact | None = None
    outputs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        # a NamedTuple record, which JSON would write as a list
        d["artifact"] = None if self.artifact is None else self.artifact._asdict()
        d["outputs"] = [{"name": output_name(u), "uri": u, "hash": h} for u, h in self.outputs.items()]
        return d

    def output(self, name: str | None) -> tuple[str, str]:
        """(URI, hash) of the output ``name`` (its URI or last path component; None: the only one)."""
        if not self.outputs:
            raise ConfigError(f"run {self.run_id} stored one value, not named outputs: leave out the output name")
        if name is None and len(self.outputs) == 1:
            return next(iter(self.outputs.items()))
        found = [(u, h) for u, h in self.outputs.items() if name in (u, output_name(u))]
        if len(found) != 1:
            names = ", ".join(sorted(output_name(u) for u in self.outputs))
            what = "name one" if name is None else f"{name!r} is {'ambiguous' if found else 'not one of them'}"
            raise ConfigError(f"run {self.run_id} wrote {len(self.outputs)} outputs ({names}): {what}")
        return found[0]


def output_name(uri: str) -> str:
    """An output's short name: the last component of its URI or path."""
    return os.path.basename(uri.rstrip("/")) or uri


def locate(store: CacheStore, ref: str) -> RunResult:
    """What the run ``ref`` names stored; ArtifactError when it stored nothing (a failed or running run)."""
    run = store.get_run(ref)
    run_id, status = str(run["id"]), str(run["status"])
    if status not in (RunStatus.COMPLETED, RunStatus.CACHED):
        raise ArtifactError(f"run {run_id} is {status}: it stored no result")
    source = str(run["source_run_id"] or run_id)
    _, outputs = store.run_datasets(run_id)  # a hit's are its source run's
    values: list[StoredArtifact] = []
    external: dict[str, str] = {}
    for d in outputs:
        art = store.stored_artifact(d.version) if d.version else None
        if art is not None and (d.location or "").rstrip("/").endswith(art.hash.partition(":")[2]):
            values.append(art)  # a blob of the artifact store (wherever that store lives now)
        elif d.location and d.version:
            external[d.location] = d.version  # a command's declared output
    if not values and not external and run["cache_key"]:  # a run recorded before its outputs were
        entry = store.lookup(run["cache_key"])
        art = store.stored_artifact(entry.artifact_hash) if entry is not None and entry.run_id == source else None
        values = [art] if art is not None else []
    if values or external:
        return RunResult(run_id, source, str(run["namespace"]), str(run["job"]), status,
                         values[0] if values else None, {} if values else external)
    raise ArtifactError(f"run {run_id} recorded no stored result in store {store.url} (its artifact was removed, "
                        "or the run predates recorded outputs)")


def load(ref: str, *, output: str | None = None, allow_pickle: bool = False, store: CacheStore | None = None,
         destination: str | os.PathLike[str] | None = None) -> Any:
    """The value run ``ref`` (id, prefix or ``JOB@NAME``) stored, verified: the object itself (an array, a
    DataFrame, JSON, str, bytes, or a value of a registered materializer), or a ``Path`` for a file or directory
    result — restored at ``destination`` when given — and for a command's output (``output``: its name, needed
    when it wrote several). A pickled value only with ``allow_pickle=True``."""
    from .runtime import default_store

    store = store or default_store()
    result = locate(store, ref)
    dest = Path(destination) if destination is not None else None
    if result.artifact is None:
        uri, digest = result.output(output)
        target = dest or store.home / "outputs" / digest.partition(":")[2][:16] / output_name(uri)
        return fetch_output(result, uri, digest, target)
    if output is not None:
        raise ConfigError(f"run {result.run_id} stored one value, not named outputs: leave out output={output!r}")
    return _about(result, lambda: _ref(store, result).load(store, allow_pickle, dest))


def write(store: CacheStore, result: RunResult, path: Path, allow_pickle: bool = False,
          output: str | None = None) -> list[Path]:
    """Write what ``result`` names under ``path`` (a directory that exists: inside it, under the result's own name)
    in its file form: a blob as its materializer wrote it (``.npy``, Parquet, JSON, …), a tree as a tree, a
    command's outputs as they were (all of them into a directory, or the one ``output`` names). Verified first;
    nothing is deserialised, yet a pickle is written only with ``allow_pickle``. Returns the paths written."""
    if result.artifact is None:
        names = [result.output(output)] if output is not None or len(result.outputs) == 1 else \
            sorted(result.outputs.items())
        single = len(names) == 1 and not path.is_dir()
        return [fetch_output(result, u, h, path if single else path / output_name(u)) for u, h in names]
    if output is not None:
        raise ConfigError(f"run {result.run_id} stored one value, not named outputs: leave out --output")
    art = result.artifact
    from .store.materializers import materializer_by_id, replace_atomically

    m = _about(result, lambda: materializer_by_id(art.materializer, allow_pickle))
    if m.name == "path":  # a file or a tree: restored by its materializer, every member verified
        name = os.path.basename(str(art.meta.get("name") or "")) or f"{result.job}-{result.source_run_id}"
        target = path / name if path.is_dir() else path
        return [_about(result, lambda: _ref(store, result).load(store, allow_pickle, target))]
    target = path / f"{result.job}-{result.source_run_id}{SUFFIX.get(m.name, getattr(m, 'suffix', ''))}" \
        if path.is_dir() else path
    data = _about(result, lambda: store.artifacts.read_verified(art.hash, None, art.size))  # hashed in full
    replace_atomically(target, lambda tmp: tmp.write_bytes(bytes(data)))
    return [target]


def fetch_output(result: RunResult, uri: str, digest: str, target: Path) -> Path:
    """A command's output copied to ``target`` and verified against the hash the run recorded for it (the URI may
    have been overwritten since: then an IntegrityError naming the run, and nothing at ``target``)."""
    from fsspec.core import url_to_fs

    from .hashing.remote import hash_uri
    from .store.materializers import replace_atomically

    def copy(tmp: Path) -> None:
        fs, src = url_to_fs(uri)
        try:
            fs.get(src, str(tmp), recursive=fs.isdir(src))
        except FileNotFoundError:
            raise ArtifactError(f"run {result.run_id}: output {uri} is gone") from None
        actual = hash_uri(str(tmp))
        if actual != digest:
            raise IntegrityError(f"run {result.run_id}: output {uri} is not what the run wrote (content hash {actual}"
                                 f", recorded {digest}): it was changed or overwritten since")

    replace_atomically(target, copy)
    return target


def _ref(store: CacheStore, result: RunResult) -> ArtifactRef:
    assert result.artifact is not None
    art = result.artifact
    return ArtifactRef(store.artifacts.uri_for(art.hash), art.hash, art.materializer, None, result.source_run_id)


def _about(result: RunResult, do: Any) -> Any:
    """``do()``, with an artifact or materializer error restated as one about the run (the same type)."""
    try:
        return do()
    except IntegrityError as e:
        raise IntegrityError(f"run {result.run_id}: its stored result is damaged ({e}); nothing was returned") \
            from None
    except ArtifactError as e:
        raise ArtifactError(f"run {result.run_id}: its stored result cannot be read ({e})") from None
    except MaterializerError as e:
        hint = "; allow it explicitly (lineage get --allow-pickle, load(..., allow_pickle=True))" \
            if result.artifact is not None and result.artifact.materializer.startswith("pickle@") else ""
        raise MaterializerError(f"run {result.run_id}: {e}{hint}") from None
