"""What the cache saved, computed from the store: every hit's saving is its producing run's.

A hit is a ``CACHED`` run; ``source_run_id`` names the run that computed its value. What the hit saved is read
from that run, so every kind of hit — a cached function, a cached command or pod, a KFP task, an LLM call —
counts the same way, and nothing has to be written at hit time that could disagree with the store later:

- **compute seconds**: the producing run's duration (``ended_at - started_at``);
- **GPU-hours**: those seconds times the producing run's GPUs, from its resource class — the key manifest's
  ``resources`` component (a cached command's ``ContainerTask.resource_class()``: the pod operator's and
  the command path's) or a ``resources`` entry in the producing run's context (what an adapter records for a
  task whose GPUs are not key material), ``{"gpus": n, "gpu_type": …}``;
- **tokens and money** (LLM calls): the hit's ``llm.saved`` (the producing call's usage and cost, priced
  when the hit was made), else the producing call's own ``llm`` usage and cost.

A hit whose producing run is gone (collected) or unfinished saves nothing known: it is counted as a hit and in
``unknown_sources``. The hit rate is hits over every run of a cached step (hits, misses, failures, calls sent
uncached) in the window. Days are UTC. Grouping is by job (``namespace/name``), namespace, or LLM model (runs
that are not LLM calls group under ``-``). One grouped statement counts the runs; one streams the hits with
the few JSON fields read in the database (not whole manifests).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from . import schema as t

if TYPE_CHECKING:
    from .metadata import Store

GroupBy = Literal["job", "namespace", "model"]
GROUPINGS: tuple[str, ...] = ("job", "namespace", "model")
NO_MODEL = "-"


@dataclass
class Saved:
    """One group's (or the whole window's, or one day's) counts and savings."""

    lookups: int = 0
    hits: int = 0
    compute_seconds_saved: float = 0.0
    gpu_hours_saved: float = 0.0
    tokens_saved: int = 0
    cost_usd_saved: float = 0.0
    unknown_sources: int = 0

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.lookups if self.lookups else None

    def add(self, other: Saved) -> None:
        for name in ("lookups", "hits", "compute_seconds_saved", "gpu_hours_saved", "tokens_saved",
                     "cost_usd_saved", "unknown_sources"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hit_rate"] = None if self.hit_rate is None else round(self.hit_rate, 6)
        for name in ("compute_seconds_saved", "gpu_hours_saved", "cost_usd_saved"):
            out[name] = round(out[name], 9)
        return out


@dataclass
class SavingsReport:
    """The savings of a window (``since`` .. ``until``, epoch seconds), totals, per group and per UTC day."""

    since: float | None
    until: float
    by: str
    totals: Saved = field(default_factory=Saved)
    groups: dict[str, Saved] = field(default_factory=dict)
    group_namespaces: dict[str, str | None] = field(default_factory=dict)
    days: dict[str, Saved] = field(default_factory=dict)
    gpu_hours_by_type: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        groups = sorted(self.groups.items(), key=lambda kv: (-kv[1].compute_seconds_saved, -kv[1].hits, kv[0]))
        return {
            "since": self.since, "until": self.until, "by": self.by, "totals": self.totals.to_dict(),
            "groups": [{"group": name, "namespace": self.group_namespaces.get(name), **s.to_dict()}
                       for name, s in groups],
            "days": [{"day": day, **{k: v for k, v in s.to_dict().items() if k not in ("lookups", "hit_rate")}}
                     for day, s in sorted(self.days.items())],
            "gpu_hours_by_type": {k: round(v, 9) for k, v in sorted(self.gpu_hours_by_type.items())},
        }


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _gpus(resources: Any) -> tuple[int, str | None]:
    """(GPU count, GPU type) of a resource class; (0, None) when it names none."""
    if not isinstance(resources, dict):
        return 0, None
    gpus = resources.get("gpus")
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        return 0, None
    kind = resources.get("gpu_type") or resources.get("gpu_resource")
    return gpus, str(kind) if kind else None


def _tokens(usage: Any) -> int:
    if not isinstance(usage, dict):
        return 0
    total = usage.get("total")
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    return int(_number(usage.get("input")) + _number(usage.get("output")))


def _llm_saved(hit_llm: Any, source_llm: Any) -> tuple[int, float]:
    """(tokens, USD) an LLM hit saved: the hit's own ``saved`` record, else the producing call's usage and cost."""
    saved = hit_llm.get("saved") if isinstance(hit_llm, dict) else None
    if isinstance(saved, dict) and (saved.get("tokens") is not None or saved.get("cost_usd") is not None):
        return _tokens(saved.get("tokens")), _number(saved.get("cost_usd"))
    if isinstance(source_llm, dict):
        return _tokens(source_llm.get("usage")), _number(source_llm.get("cost_usd"))
    return 0, 0.0


def _allowed(namespace: str, globs: Sequence[str] | None) -> bool:
    return globs is None or any(fnmatch.fnmatchcase(namespace, g) for g in globs)


def _group(by: str, namespace: str, job: str, model: Any) -> tuple[str, str | None]:
    if by == "namespace":
        return namespace, namespace
    if by == "model":
        return (str(model) if isinstance(model, str) and model else NO_MODEL), None
    return f"{namespace}/{job}", namespace


def _lookups(store: Store, since: float | None, until: float) -> Iterable[tuple[str, str, Any, str, int]]:
    """(namespace, job, model, status, count) of the runs in the window, counted in the database per job, LLM
    model and status (the days are the hits': a sparkline of what was saved)."""
    r, j = t.runs.c, t.jobs.c
    model = r.context[("llm", "model")].as_string()
    q = (sa.select(j.namespace, j.name, model, r.status, sa.func.count())
         .select_from(t.runs.join(t.jobs, t.jobs.c.id == r.job_id))
         .where(r.started_at < until)
         .group_by(j.namespace, j.name, model, r.status))
    if since is not None:
        q = q.where(r.started_at >= since)
    with store.engine.connect() as c:
        for ns, name, m, status, n in c.execute(q):
            yield str(ns), str(name), m, str(status), int(n)


def _hits(store: Store, since: float | None, until: float) -> Iterable[dict[str, Any]]:
    """Every hit in the window with what its producing run tells of the saving."""
    r = t.runs.alias("hit")
    s = t.runs.alias("source")
    j, m = t.jobs.c, t.manifests.c
    q = (sa.select(r.c.started_at.label("at"), j.namespace, j.name.label("job"),
                   r.c.context["llm"].label("llm"), s.c.id.label("source_id"),
                   s.c.started_at.label("source_started"), s.c.ended_at.label("source_ended"),
                   s.c.context["resources"].label("source_resources"), s.c.context["llm"].label("source_llm"),
                   m.manifest["resources"].label("key_resources"))
         .select_from(r.join(t.jobs, t.jobs.c.id == r.c.job_id)
                      .outerjoin(s, s.c.id == r.c.source_run_id)
                      .outerjoin(t.manifests, t.manifests.c.key == r.c.cache_key))
         .where(r.c.status == "CACHED", r.c.started_at < until))
    if since is not None:
        q = q.where(r.c.started_at >= since)
    with store.engine.connect() as c:
        for row in c.execute(q):
            yield dict(row._mapping)


def savings(store: Store, *, since: float | None = None, by: str = "job", until: float | None = None,
            namespaces: Sequence[str] | None = None) -> SavingsReport:
    """The savings of hits started in ``[since, until)`` (``since`` None: all of them), grouped ``by`` job,
    namespace or model; ``namespaces`` (globs) limits every count to those namespaces (a limited token's)."""
    if by not in GROUPINGS:
        raise ValueError(f"by={by!r}: group by one of {', '.join(GROUPINGS)}")
    until = time.time() if until is None else until
    report = SavingsReport(since, until, by)

    def group(name: str, namespace: str | None) -> Saved:
        report.group_namespaces.setdefault(name, namespace)
        return report.groups.setdefault(name, Saved())

    for ns, job, model, _status, n in _lookups(store, since, until):
        if not _allowed(ns, namespaces):
            continue
        name, namespace = _group(by, ns, job, model)
        group(name, namespace).lookups += n
        report.totals.lookups += n
    for hit in _hits(store, since, until):
        if not _allowed(hit["namespace"], namespaces):
            continue
        llm = hit["llm"] if isinstance(hit["llm"], dict) else None
        one = Saved(hits=1)
        started, ended = hit["source_started"], hit["source_ended"]
        if hit["source_id"] is None or ended is None:
            one.unknown_sources = 1
        else:
            one.compute_seconds_saved = max(float(ended) - float(started), 0.0)
            gpus, kind = _gpus(hit["key_resources"])
            if not gpus:
                gpus, kind = _gpus(hit["source_resources"])
            if gpus:
                one.gpu_hours_saved = gpus * one.compute_seconds_saved / 3600.0
                label = kind or "gpu"
                report.gpu_hours_by_type[label] = report.gpu_hours_by_type.get(label, 0.0) + one.gpu_hours_saved
        if llm is not None or hit["source_llm"] is not None:
            one.tokens_saved, one.cost_usd_saved = _llm_saved(llm, hit["source_llm"])
        name, namespace = _group(by, hit["namespace"], hit["job"], (llm or {}).get("model"))
        group(name, namespace).add(one)
        report.totals.add(one)
        day = report.days.setdefault(_day(float(hit["at"])), Saved())
        day.add(one)
    return report


def window_start(since_seconds: float | None, now: float | None = None) -> float | None:
    """The start of a window reaching ``since_seconds`` back from ``now`` (None: the whole history)."""
    if since_seconds is None:
        return None
    return (time.time() if now is None else now) - since_seconds
