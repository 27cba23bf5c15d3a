"""Batch LLM evaluation where every model call goes through the shared cache, with the real ``openai`` SDK.

The steps are ``dags/llm_steps.py`` (shared with the KFP twin, kfp_components/pipelines/llm_eval_pipeline.py):
``answer`` asks an OpenAI-compatible endpoint (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``) each question with a
calculator tool through ``lineage_core.llm.CachingTransport``, so an identical request is answered from the
store in any task, DAG run or orchestrator that shares it, and concurrent identical requests (the same question
in both splits) make one upstream call; ``score`` grades each answer with a LangChain chain under
``set_llm_cache(LineageLLMCache())``; ``summarise`` streams a report from the Responses API (a hit replays the
same stream). The tasks are cached too, so an unchanged rerun executes nothing; a changed task re-runs, and its
model calls are answered from the store. Every call is a child run of its task's step, with its tokens and cost:
``lineage stats --by model`` says what the cache saved.
"""

from __future__ import annotations

import datetime as dt

import llm_steps
from airflow.sdk import dag

from lineage_airflow import cached_task

MODEL = llm_steps.MODEL
DEV, TEST = llm_steps.DEV, llm_steps.TEST


@cached_task
def load_split(name: str) -> list[dict[str, str]]:
    return llm_steps.load_split(name)


@cached_task
def answer(cases: list[dict[str, str]]) -> list[str]:
    return llm_steps.answer(cases)


@cached_task
def score(dev: list[dict[str, str]], dev_answers: list[str], test: list[dict[str, str]],
          test_answers: list[str]) -> dict[str, float]:
    return llm_steps.score(dev, dev_answers, test, test_answers)


@cached_task
def summarise(scores: dict[str, float]) -> str:
    return llm_steps.summarise(scores)


@dag(dag_id="llm_eval", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False,
     tags=["lineage-core", "example", "llm"])
def llm_eval() -> None:
    dev = load_split.override(task_id="load_dev")("dev")
    test = load_split.override(task_id="load_test")("test")
    scores = score(dev, answer.override(task_id="answer_dev")(dev), test, answer.override(task_id="answer_test")(test))
    summarise(scores)


llm_eval()
