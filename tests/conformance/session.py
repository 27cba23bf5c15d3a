"""What the suite's session fixtures hold: the corpus, and each server with the corpus sent to it."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from .bad_inputs import BadInput, bad_inputs
from .corpus import synthetic
from .events import Clock, Story
from .send import LINEAGE, Answer, Client, send_stories
from .sources import airflow, own_runs, spec_examples


@dataclass
class Corpus:
    clock: Clock
    stories: list[Story]
    bad: list[BadInput]

    @classmethod
    def build(cls, own_home: Path) -> Corpus:
        clock = Clock.recent()
        stories = [*synthetic(clock), airflow(clock), spec_examples(clock), own_runs(own_home)]
        return cls(clock, stories, bad_inputs(clock))

    @property
    def size(self) -> int:
        return sum(len(s.events) for s in self.stories)


@dataclass
class Loaded:
    """A server with the corpus sent: its answers to every event and bad input, and a client to read it."""

    name: str
    port: int
    answers: dict[tuple[str, int], Answer]
    bad: dict[str, Answer]
    seconds: float
    window: tuple[str, str]  # the wall-clock interval (ISO-8601 UTC) in which the corpus was sent
    client: Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = Client(self.port)

    @classmethod
    def send(cls, name: str, port: int, corpus: Corpus) -> Loaded:
        t, started = time.perf_counter(), _now()
        answers = send_stories(port, corpus.stories)
        client = Client(port)
        bad = {b.name: client.send("POST", LINEAGE, b.body, b.content_type) for b in corpus.bad}
        client.close()
        return cls(name, port, answers, bad, time.perf_counter() - t, (started, _now()))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


@dataclass
class Pair:
    ours: Loaded
    marquez: Loaded
