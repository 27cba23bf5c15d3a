"""A stored value by reference: what an orchestrator passes between cached steps instead of the data.

An Airflow XCom or a KFP parameter carries an :class:`ArtifactRef` (URI, content hash, exact
materializer, and the key and run that produced it) as a small JSON dict. A cached step that receives
one keys it by the artifact's content hash — O(1), nothing is read — and loads it (verified, byte for
byte) only when the step actually runs. A chain of cached tasks therefore re-checks in constant time
per task, however large the data between them.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArtifactError, ConfigError
from .records import record

if TYPE_CHECKING:
    from .store import CacheStore

MARKER = "__lineage_artifact__"


@record
class ArtifactRef:
    """A stored value by reference: where its blob is, its hash and materializer, and the run that produced it.
    Passed to another step, it is keyed by content and loaded only where that step runs."""

    uri: str
    hash: str  # blake3 of the stored bytes
    materializer: str  # the exact materializer id that wrote them
    key: str | None = None  # the cache key that produced it
    run_id: str | None = None  # the run that produced it

    def __init__(self, uri: str, hash: str, materializer: str, key: str | None = None,
                 run_id: str | None = None) -> None:
        self.__dict__.update(uri=uri, hash=hash, materializer=materializer, key=key, run_id=run_id)  # frozen

    def __lineage_hash__(self) -> str:
        """Keyed by content: the same stored value gives the same key, wherever the reference came from."""
        return f"{self.materializer}\0{self.hash}"

    def to_dict(self) -> dict[str, Any]:
        return {MARKER: 1, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactRef:
        try:
            return cls(str(data["uri"]), str(data["hash"]), str(data["materializer"]), data.get("key"),
                       data.get("run_id"))
        except KeyError as e:
            raise ConfigError(f"an artifact reference needs {e.args[0]!r}: {data!r}") from None

    @staticmethod
    def is_ref(value: Any) -> bool:
        return isinstance(value, dict) and value.get(MARKER) == 1

    def load(self, store: CacheStore | None = None, allow_pickle: bool = False,
             destination: Path | None = None) -> Any:
        """The value, read back and verified against its content hash (IntegrityError if it differs), loaded the
        way the receiving step allows: a pickled value only for a step that opted in to pickle. ``destination``:
        where a file or directory value is restored (the caller's choice; default: under the store's scratch)."""
        from .runtime import default_store
        from .store.materializers import LoadContext, materializer_by_id

        store = store or default_store()
        meta = store.artifact_meta(self.hash)
        if meta is None:
            raise ArtifactError(f"artifact {self.hash} ({self.uri}) is not in store {store.url}")
        data = store.artifacts.read_verified(self.hash, store)
        m = materializer_by_id(self.materializer, allow_pickle)
        return m.load(data, meta, LoadContext(store.home / "materialized", store.artifacts, destination, self.hash))


def as_ref(value: Any) -> Any:
    """A reference dict (as an XCom or parameter carries it) becomes an ArtifactRef; anything else is kept."""
    return ArtifactRef.from_dict(value) if ArtifactRef.is_ref(value) else value


def resolve(value: Any, store: CacheStore, allow_pickle: bool = False) -> Any:
    """What a step receives: the loaded value for a reference (under the step's pickle policy), anything else
    unchanged."""
    return value.load(store, allow_pickle) if isinstance(value, ArtifactRef) else value
