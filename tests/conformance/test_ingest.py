"""Ingest: every corpus event is taken (or refused) by both servers alike, and each bad input gets the same
status and an error body in Marquez's shape."""

from __future__ import annotations

import json

from .compare import Report
from .session import Corpus, Pair


def test_corpus_events_are_answered_alike(pair: Pair, corpus: Corpus) -> None:
    r = Report()
    assert corpus.size == len(pair.marquez.answers) == len(pair.ours.answers)
    for story in corpus.stories:
        for i, event in enumerate(story.events):
            job = (event.get("job") or {}).get("name") or (event.get("dataset") or {}).get("name")
            ours, theirs = pair.ours.answers[(story.name, i)], pair.marquez.answers[(story.name, i)]
            r.compare(ours.status, theirs.status, f"ingest[{story.name}#{i} {event.get('eventType')} {job}].status",
                      (lambda v: v, lambda v: v))
    r.check(pair)
    assert {a.status for a in pair.marquez.answers.values()} <= {200, 201}, "Marquez refused corpus events"


def test_bad_inputs_are_refused_alike(pair: Pair, corpus: Corpus) -> None:
    r = Report()
    for bad in corpus.bad:
        ours = pair.ours.bad[bad.name]
        assert 400 <= ours.status < 500, f"{bad.name}: ours answered {ours.status} {ours.body[:200]}"
        assert json.loads(ours.body).get("code") == ours.status, f"{bad.name}: not Marquez's error body: {ours.body}"
        if not bad.marquez_stores:
            r.compare(ours.status, pair.marquez.bad[bad.name].status, f"ingest[{bad.name}].status",
                      (lambda v: v, lambda v: v))
    r.check(pair)
