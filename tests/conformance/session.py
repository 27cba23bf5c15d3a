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
        stories = [*synthetic(clock), airflow(clock.shifted(11)), spec_examples(clock.shifted(12)), own_runs(own_home)]
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
    window: tuple[str, str]  # wall clock (ISO-8601 UTC): from the server's start to the end of the corpus
    client: Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = Client(self.port)

    @classmethod
    def send(cls, name: str, port: int, corpus: Corpus, since: str) -> Loaded:
        """``since``: when the server was started (wall clock, ISO-8601 UTC)."""
        t = time.perf_counter()
        answers = send_stories(port, corpus.stories)
        client = Client(port)
        bad = {b.name: client.send("POST", LINEAGE, b.body, b.content_type) for b in corpus.bad
               if name != "marquez" or not b.marquez_stores}
        client.close()
        return cls(name, port, answers, bad, time.perf_counter() - t, (since, now()))


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


@dataclass
class Pair:
    ours: Loaded
    marquez: Loaded
