"""Batch LLM evaluation where every model call goes through the shared cache.

``generate`` is a ``lineage_core.cached`` function: a call with the same prompt and settings is served from
the cache in any task, DAG run or orchestrator that shares the store, and concurrent identical calls run
the model once (single-flight; the others wait for its result). The tasks themselves are cached too, so
an unchanged rerun executes nothing. The "model" is a small deterministic local function, so the DAG runs
offline; swap in a real client and the cache and lineage work the same.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import re
import time
from concurrent.futures import ThreadPoolExecutor

from airflow.sdk import dag

from lineage_airflow import cached_task
from lineage_core import cached

MODEL = "tiny-arith-1"
DEV = ["What is 2 + 3?", "What is 7 - 4?", "What is 6 * 7?", "What is 2 + 3?", "What is 9 - 9?", "What is 3 * 3?"]
TEST = ["What is 2 + 3?", "What is 10 - 4?", "What is 6 * 7?", "What is 8 + 8?", "What is 10 - 4?"]


def tiny_model(prompt: str, model: str) -> str:
    """A deterministic stand-in for an LLM: adds and subtracts, guesses at products."""
    match = re.search(r"(\d+)\s*([+*-])\s*(\d+)", prompt)
    if not match:
        return "I don't know."
    a, op, b = int(match[1]), match[2], int(match[3])
    answer = a + b if op == "+" else a - b if op == "-" else a + b + 1  # the model's weakness
    return f"{answer}"


@cached(name="llm_eval.generate")
def generate(prompt: str, model: str = MODEL, temperature: float = 0.0) -> str:
    time.sleep(0.05)  # a model call's latency
    return tiny_model(prompt, model)


def expected(prompt: str) -> str:
    match = re.search(r"(\d+)\s*([+*-])\s*(\d+)", prompt)
    assert match is not None
    a, op, b = int(match[1]), match[2], int(match[3])
    return str(a + b if op == "+" else a - b if op == "-" else a * b)


@cached_task
def load_split(name: str) -> list[dict[str, str]]:
    prompts = DEV if name == "dev" else TEST
    return [{"prompt": p, "expected": expected(p)} for p in prompts]


@cached_task
def answer(cases: list[dict[str, str]]) -> list[str]:
    """Calls the model for every case, 4 at a time (each thread keeps the task's lineage context)."""
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda c: context.copy().run(generate, c["prompt"]), cases))


@cached_task
def score(dev: list[dict[str, str]], dev_answers: list[str], test: list[dict[str, str]],
          test_answers: list[str]) -> dict[str, float]:
    def accuracy(cases: list[dict[str, str]], answers: list[str]) -> float:
        return sum(c["expected"] == a.strip() for c, a in zip(cases, answers, strict=True)) / len(cases)

    return {"dev_accuracy": accuracy(dev, dev_answers), "test_accuracy": accuracy(test, test_answers)}


@dag(dag_id="llm_eval", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False,
     tags=["lineage-core", "example", "llm"])
def llm_eval() -> None:
    dev = load_split.override(task_id="load_dev")("dev")
    test = load_split.override(task_id="load_test")("test")
    score(dev, answer.override(task_id="answer_dev")(dev), test, answer.override(task_id="answer_test")(test))


llm_eval()
