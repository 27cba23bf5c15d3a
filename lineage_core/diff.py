"""What differs between two runs: the key (code, parameters, inputs, key-relevant packages) and the
full environment. Shared by ``lineage diff`` and ``GET /api/v1/runs/diff``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .keys import KeyManifest, explain_difference

if TYPE_CHECKING:
    from .environment import EnvironmentSnapshot
    from .store import Store


@dataclass
class EnvironmentDiff:
    """What changed between two environments: packages added, removed and changed, and the rest (python,
    platform, image, GPU, git). Lives here, not in ``environment``: a cached hit captures an environment and never
    diffs one."""

    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    other: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.other)

    def lines(self) -> list[str]:
        out = [f"{k} {a} → {b}" for k, (a, b) in self.other.items()]
        out += [f"package {n} {a} → {b}" for n, (a, b) in self.changed.items()]
        out += [f"package {n} {v} added" for n, v in self.added.items()]
        out += [f"package {n} {v} removed" for n, v in self.removed.items()]
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff_environments(a: EnvironmentSnapshot, b: EnvironmentSnapshot) -> EnvironmentDiff:
    """What changed from ``a`` to ``b``: packages, python, platform, image, GPU, git."""
    d = EnvironmentDiff()
    for name in sorted(set(a.packages) | set(b.packages)):
        va, vb = a.packages.get(name), b.packages.get(name)
        if va is None and vb is not None:
            d.added[name] = vb
        elif vb is None and va is not None:
            d.removed[name] = va
        elif va != vb and va is not None and vb is not None:
            d.changed[name] = (va, vb)
    for attr in ("python", "implementation", "platform", "machine", "image_digest"):
        if getattr(a, attr) != getattr(b, attr):
            d.other[attr] = (getattr(a, attr), getattr(b, attr))
    if a.gpu != b.gpu:
        d.other["gpu"] = (a.gpu, b.gpu)
    if a.git.get("commit") != b.git.get("commit") or a.git.get("dirty") != b.git.get("dirty"):
        d.other["git"] = (a.git.get("commit"), b.git.get("commit"))
    return d


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
