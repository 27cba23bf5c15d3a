"""OpenLineage RunEvents for lineage-core runs, built with openlineage-python's generated classes.

Every cached run — hit or miss, success or failure — is a START followed by COMPLETE, FAIL or ABORT.
A hit is a completed run whose ``lineage_cache`` facet names the run that produced the value, so Marquez
shows cached steps instead of gaps. Inputs and outputs are datasets named per the OpenLineage naming
spec; our artifacts carry their content hash as ``datasetVersion``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
)
from openlineage.client.serde import Serde

from ..hashing.content import hash_bytes
from ..keys import KeyManifest
from ..redact import redact_url
from ..status import EventType
from ..version import __version__
from .facets import LineageCacheRunFacet, LineageEnvironmentRunFacet, LineageLLMRunFacet, LineageMetricsRunFacet
from .naming import dataset_name

PRODUCER = f"https://github.com/lineage-core/lineage-core/tree/v{__version__}"
_STATES = {EventType.START: RunState.START, EventType.COMPLETE: RunState.COMPLETE, EventType.FAIL: RunState.FAIL,
           EventType.ABORT: RunState.ABORT}


@dataclass
class DatasetRef:
    location: str  # a local path or a URL
    version: str | None = None  # content hash
    fields: list[tuple[str, str]] | None = None  # (name, type) for tabular data


@dataclass
class RunRecord:
    """What an event needs to know about a run (filled by the cache layer or an adapter)."""

    run_id: str
    namespace: str
    job: str
    event_type: EventType
    time: float
    key: str | None = None
    manifest: dict[str, Any] | None = None
    hit: bool = False
    source_run_id: str | None = None
    reasons: list[str] = field(default_factory=list)
    environment: dict[str, Any] | None = None  # EnvironmentSnapshot.to_dict()
    packages: dict[str, str] = field(default_factory=dict)  # the key-relevant ones
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)
    error: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    source_file: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # lineage_core.metrics.run_metrics


def _own(facet: Any) -> Any:
    facet._producer = PRODUCER
    return facet


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


def _run_facets(r: RunRecord) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "processing_engine": _own(processing_engine_run.ProcessingEngineRunFacet(
            version=__version__, name="lineage-core", openlineageAdapterVersion=__version__)),
    }
    parent = r.context.get("parent")
    if parent:
        root = parent.get("root")
        facets["parent"] = _own(parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent["run_id"]),
            job=parent_run.Job(namespace=parent["namespace"], name=parent["name"]),
            root=parent_run.Root(run=parent_run.RootRun(runId=root["run_id"]),
                                 job=parent_run.RootJob(namespace=root["namespace"], name=root["name"]))
            if root else None,
        ))
    env = r.environment
    if env is not None and r.event_type == EventType.START:
        facets["lineage_environment"] = _own(LineageEnvironmentRunFacet(
            python=env["python"], platform=env["platform"], packagesHash=_packages_hash(env),
            implementation=env.get("implementation"), machine=env.get("machine"), packages=r.packages,
            imageDigest=env.get("image_digest"), gpu=env.get("gpu") or {}, git=env.get("git") or {},
        ))
    if r.key and EventType(r.event_type).terminal:
        facets["lineage_cache"] = _own(LineageCacheRunFacet(
            hit=r.hit, key=r.key, keySchema=(r.manifest or {}).get("schema"),
            components=KeyManifest.from_dict(r.manifest).component_hashes() if r.manifest else {},
            sourceRunId=r.source_run_id, missReasons=[] if r.hit else list(r.reasons),
        ))
    if r.metrics and EventType(r.event_type).terminal:
        facets["lineage_metrics"] = _own(LineageMetricsRunFacet(
            metrics=dict(r.metrics), sourceRunId=r.source_run_id if r.hit else None))
    llm = r.context.get("llm")
    if isinstance(llm, dict) and EventType(r.event_type).terminal:  # an LLM call (lineage_core.llm)
        facets["lineage_llm"] = _own(LineageLLMRunFacet.from_context(llm))
    if r.error and r.event_type in (EventType.FAIL, EventType.ABORT):
        facets["errorMessage"] = _own(error_message_run.ErrorMessageRunFacet(
            message=r.error, programmingLanguage="python"))
    return facets


def _packages_hash(env: dict[str, Any]) -> str:
    return hash_bytes(json.dumps(sorted((env.get("packages") or {}).items()), separators=(",", ":")).encode())


def _job_facets(r: RunRecord) -> dict[str, Any]:
    integration = str(r.context.get("orchestrator", "python")).upper()
    facets: dict[str, Any] = {
        "jobType": _own(job_type_job.JobTypeJobFacet(processingType="BATCH", integration=integration, jobType="TASK")),
    }
    git = (r.environment or {}).get("git") or {}
    if r.source_file:
        url = redact_url(git["remote"]) if git.get("remote") else f"file://{r.source_file}"
        facets["sourceCodeLocation"] = _own(source_code_location_job.SourceCodeLocationJobFacet(
            type="git" if git else "file", url=url, path=r.source_file, version=git.get("commit")))
    return facets


def _dataset_facets(d: DatasetRef) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if d.version:
        facets["version"] = _own(dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=d.version))
    if d.fields:
        facets["schema"] = _own(schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in d.fields]))
    return facets


def build_event(r: RunRecord) -> RunEvent:
    inputs = [InputDataset(namespace=ns, name=name, facets=_dataset_facets(d))
              for d in r.inputs for ns, name in [dataset_name(d.location)]]
    completed = r.event_type == EventType.COMPLETE
    outputs = [OutputDataset(namespace=ns, name=name, facets=_dataset_facets(d))
               for d in r.outputs for ns, name in [dataset_name(d.location)]] if completed else []
    return RunEvent(
        eventType=_STATES[r.event_type],
        eventTime=_iso(r.time),
        run=Run(runId=r.run_id, facets=_run_facets(r)),
        job=Job(namespace=r.namespace, name=r.job, facets=_job_facets(r)),
        producer=PRODUCER,
        inputs=inputs,
        outputs=outputs,
    )


def event_dict(r: RunRecord) -> dict[str, Any]:
    """The event as plain JSON-able data (what transports send and the store keeps)."""
    data: dict[str, Any] = Serde.to_dict(build_event(r))
    return data
