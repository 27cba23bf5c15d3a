"""One exception hierarchy for lineage-core.

Every error we raise derives from :class:`LineageError`, and where a builtin already names the kind
of failure the subclass inherits it too (``UnhashableInputError`` is a ``TypeError``), so callers can
catch either our type or the builtin they already expect.
"""

from __future__ import annotations


class LineageError(Exception):
    """Root of every error raised by lineage-core."""


class ConfigError(LineageError, ValueError):
    """A setting (env var, URL, decorator option) is invalid."""


class UnhashableInputError(LineageError, TypeError):
    """A step argument has a type we cannot hash canonically.

    We never fall back to ``str()``, ``repr()`` or pickle: those give keys that differ between
    processes or collide. The message names the parameter, its type and the two ways out.
    """

    def __init__(self, param: str, type_name: str, detail: str = "") -> None:
        self.param = param
        self.type_name = type_name
        fix = (
            "register a hasher with lineage_core.register_hasher(<type>, fn), give the type a "
            "__lineage_hash__(self) -> bytes method, or exclude the parameter with "
            f"@cached(exclude=[{param!r}])"
        )
        where = f" ({detail})" if detail else ""
        super().__init__(f"cannot hash parameter {param!r} of type {type_name}{where}: {fix}")


class SignatureError(LineageError, TypeError):
    """A function's signature cannot become an orchestrator's interface (a KFP component's inputs and outputs)."""


class InputMissingError(LineageError, FileNotFoundError):
    """A declared input (a file or URI a step reads) does not exist."""


class StoreError(LineageError, RuntimeError):
    """The metadata store cannot be reached, migrated or written."""


class RunNotFoundError(StoreError, LookupError):
    """No run (or cache entry) with the given id exists in the store."""


class StoreConflictError(StoreError):
    """A write names a row the store does not have (an unknown job or environment) or repeats an id that must
    be unique (a run id); nothing was written. The lineage server answers it with 409."""


class ArtifactError(LineageError, OSError):
    """An artifact could not be written or read."""


class IntegrityError(ArtifactError):
    """A stored artifact does not match its recorded content hash (treated as a cache miss)."""


class MaterializerError(LineageError, TypeError):
    """No materializer can store this output type."""


class SingleFlightTimeout(LineageError, TimeoutError):
    """Waited longer than the bound for another worker to compute the same key."""

    def __init__(self, step: str, key: str, holder: str | None, waited: float) -> None:
        self.step, self.key, self.holder = step, key, holder
        by = f"run {holder}" if holder else "another worker"
        super().__init__(
            f"step {step!r}: waited {waited:g}s for {by} to compute key {key[:20]}…; raise "
            "LINEAGE_WAIT_TIMEOUT or @cached(wait_timeout=...), or invalidate the key if that run is stuck"
        )
