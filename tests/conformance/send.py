"""Posting the corpus: each story's events one at a time in order (Marquez answers a POST only once the event is
stored, so the next one sees it), different stories on a few threads at once, keep-alive connections."""

from __future__ import annotations

import http.client
import json
import queue
import threading
from dataclasses import dataclass

from .events import Story

LINEAGE = "/api/v1/lineage"


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


class Client:
    """One keep-alive connection (reopened if the server closes it)."""

    def __init__(self, port: int, timeout: float = 120) -> None:
        self.port, self.timeout = port, timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def send(self, method: str, path: str, body: bytes | None = None,
             content_type: str = "application/json") -> Answer:
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body, {"Content-Type": content_type} if body is not None else {})
                resp = self.conn.getresponse()
                return Answer(resp.status, resp.read().decode(errors="replace"))
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path: str) -> tuple[int, object]:
        a = self.send("GET", path)
        try:
            return a.status, json.loads(a.body) if a.body else None
        except ValueError:
            return a.status, a.body

    def close(self) -> None:
        self.conn.close()


def send_stories(port: int, stories: list[Story], threads: int = 4) -> dict[tuple[str, int], Answer]:
    """Every event of every story (the ``first`` ones before the others, the ``last`` ones after them); the answer
    to each, keyed (story name, index in the story)."""
    answers: dict[tuple[str, int], Answer] = {}
    waves = ([s for s in stories if s.first], [s for s in stories if not s.first and not s.last],
             [s for s in stories if s.last])
    for wave in waves:
        _send(port, wave, threads, answers)
    return answers


def _send(port: int, stories: list[Story], threads: int, answers: dict[tuple[str, int], Answer]) -> None:
    todo: queue.Queue[Story] = queue.Queue()
    for s in sorted(stories, key=lambda s: -len(s.events)):  # the longest first: they bound the wall time
        todo.put(s)
    errors: list[BaseException] = []

    def worker() -> None:
        client = Client(port)
        try:
            while True:
                try:
                    story = todo.get_nowait()
                except queue.Empty:
                    return
                for i, event in enumerate(story.events):
                    answers[(story.name, i)] = client.send("POST", LINEAGE, json.dumps(event).encode())
        except BaseException as e:  # reported by the caller, not lost in a thread
            errors.append(e)
        finally:
            client.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
