"""What differs between two runs: the key (code, parameters, inputs, key-relevant packages) and the
full environment. Shared by ``lineage diff`` and ``GET /api/v1/runs/diff``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .environment import diff_environments
from .keys import KeyManifest, explain_difference

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class RunDiff:
    a: str
    b: str
    same_key: bool
    key: list[str]  # plain-language key differences
    environment: list[str]  # environment differences (including what the key ignores)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff_runs(store: Store, run_a: str, run_b: str) -> RunDiff:
    """Runs by id or unique prefix; raises RunNotFoundError for an unknown one."""
    a, b = store.get_run(run_a), store.get_run(run_b)
    ma = store.manifest(a["cache_key"]) if a["cache_key"] else None
    mb = store.manifest(b["cache_key"]) if b["cache_key"] else None
    key_diff: list[str] = []
    if ma and mb and ma != mb:
        key_diff = explain_difference(KeyManifest.from_dict(ma), KeyManifest.from_dict(mb))
    ea = store.get_environment(a["environment_hash"]) if a["environment_hash"] else None
    eb = store.get_environment(b["environment_hash"]) if b["environment_hash"] else None
    env_diff = diff_environments(ea, eb).lines() if ea and eb else []
    return RunDiff(a["id"], b["id"], a["cache_key"] == b["cache_key"], key_diff, env_diff)
