"""The steps of the LLM evaluation example as plain functions, shared by the Airflow DAG (dags/llm_eval.py) and the
Kubeflow pipeline (kfp_components/pipelines/llm_eval_pipeline.py).

Every model call goes to an OpenAI-compatible endpoint with the official ``openai`` SDK, unchanged, its HTTP
client routed through :class:`lineage_core.llm.CachingTransport`: an identical request (same model, messages,
tools, temperature… — never the API key) is answered from the lineage store in any task, run or orchestrator
that shares it, concurrent identical requests make one upstream call, and each call is a child run of its step
with its tokens and cost. The grading is a LangChain chain (prompt | chat model | parser) under
``set_llm_cache(LineageLLMCache())``: LangChain's own cache interface, on the same store.

The endpoint is the SDK's own configuration: ``OPENAI_BASE_URL`` (e.g. a vLLM, Ollama or LiteLLM server, or
api.openai.com) and ``OPENAI_API_KEY``. Calls are reproducible (``temperature=0``), so the default policy
caches them; the answer step uses a calculator tool (the model asks, the step computes, the model answers).
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MODEL = "gpt-4o-mini"
DEV = ["What is 2 + 3?", "What is 7 - 4?", "What is 6 * 7?", "What is 2 + 3?", "What is 9 - 9?", "What is 3 * 3?"]
TEST = ["What is 2 + 3?", "What is 10 - 4?", "What is 6 * 7?", "What is 8 + 8?", "What is 10 - 4?"]
SYSTEM = "You are a careful calculator. Use the calculator tool for arithmetic, then answer with the number."
CALCULATOR = {"type": "function", "function": {
    "name": "calculator", "description": "Evaluates one arithmetic expression: a op b with op one of + - *.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
_EXPRESSION = re.compile(r"(-?\d+)\s*([+*-])\s*(-?\d+)")


def client() -> Any:
    """The openai SDK client, its HTTP through the lineage cache (endpoint and key from the SDK's env)."""
    import httpx
    import openai

    from lineage_core.llm import CachingTransport

    return openai.OpenAI(max_retries=2, http_client=httpx.Client(transport=CachingTransport(), timeout=60.0))


def calculate(expression: str) -> str:
    """The calculator tool: ``a op b`` in the text, computed; "unknown" when there is none."""
    match = _EXPRESSION.search(expression)
    if not match:
        return "unknown"
    a, op, b = int(match[1]), match[2], int(match[3])
    return str(a + b if op == "+" else a - b if op == "-" else a * b)


def expected(prompt: str) -> str:
    return calculate(prompt)


def load_split(name: str) -> list[dict[str, str]]:
    prompts = DEV if name == "dev" else TEST
    return [{"prompt": p, "expected": expected(p)} for p in prompts]


def ask(llm: Any, prompt: str) -> str:
    """One question, answered with the calculator: the model's tool call, the tool's result, the final answer."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    first = llm.chat.completions.create(model=MODEL, messages=messages, tools=[CALCULATOR], temperature=0)
    message = first.choices[0].message
    if not message.tool_calls:
        return str(message.content or "")
    messages.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
        for c in message.tool_calls]})
    for call in message.tool_calls:
        query = json.loads(call.function.arguments or "{}").get("query", "")
        messages.append({"role": "tool", "tool_call_id": call.id, "content": calculate(str(query))})
    final = llm.chat.completions.create(model=MODEL, messages=messages, tools=[CALCULATOR], temperature=0)
    return str(final.choices[0].message.content or "")


def answer(cases: list[dict[str, str]]) -> list[str]:
    """Asks every case, 4 at a time (each thread keeps the step's lineage context)."""
    llm = client()
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda c: context.copy().run(ask, llm, c["prompt"]), cases))


def grader() -> Any:
    """The LangChain chain that grades one answer: prompt | chat model (the endpoint, through the SDK) | parser."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages([
        ("system", "You grade arithmetic answers. Reply PASS if the answer states the expected number, else FAIL."),
        ("human", "Question: {question}\nExpected: {expected}\nAnswer: {answer}"),
    ])
    return prompt | chat_model()(model=MODEL, temperature=0) | StrOutputParser()


def score(dev: list[dict[str, str]], dev_answers: list[str], test: list[dict[str, str]],
          test_answers: list[str]) -> dict[str, float]:
    """Exact accuracy (the answer's last number is the expected one) and the LLM grader's pass rate, per split."""
    from langchain_core.globals import set_llm_cache

    from lineage_core.llm import LineageLLMCache

    set_llm_cache(LineageLLMCache())
    chain = grader()

    def numbers(cases: list[dict[str, str]], answers: list[str]) -> tuple[float, float]:
        exact = graded = 0
        for case, text in zip(cases, answers, strict=True):
            found = re.findall(r"-?\d+", text)
            exact += bool(found) and found[-1] == case["expected"]
            verdict = chain.invoke({"question": case["prompt"], "expected": case["expected"], "answer": text})
            graded += "PASS" in verdict
        return exact / max(len(cases), 1), graded / max(len(cases), 1)

    dev_exact, dev_graded = numbers(dev, dev_answers)
    test_exact, test_graded = numbers(test, test_answers)
    return {"dev_accuracy": dev_exact, "test_accuracy": test_exact, "dev_graded": dev_graded,
            "test_graded": test_graded}


def summarise(scores: dict[str, float]) -> str:
    """A one-paragraph report of the scores, streamed from the Responses API (replayed as the same stream on a hit)."""
    text = []
    stream = client().responses.create(model=MODEL, temperature=0, stream=True,
                                       input=f"Summarise these evaluation scores in one sentence: {json.dumps(scores)}")
    for event in _events(stream):
        if event.type == "response.output_text.delta":
            text.append(event.delta)
    return "".join(text)


def _events(stream: Any) -> Iterator[Any]:
    with stream:
        yield from stream


@functools.cache
def chat_model() -> type:
    """A LangChain chat model over the openai SDK (plain HTTP: LangChain's cache is what caches its calls); made
    on first use, so importing this module needs no LangChain."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    roles = {"human": "user", "ai": "assistant", "system": "system"}

    class EndpointChatModel(BaseChatModel):
        """Chat Completions at ``OPENAI_BASE_URL`` through the openai SDK."""

        model: str = MODEL
        temperature: float = 0.0

        @property
        def _llm_type(self) -> str:
            return "openai-compatible-chat"

        @property
        def _identifying_params(self) -> dict[str, Any]:
            return {"model": self.model, "temperature": self.temperature}

        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            import openai

            sent = [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]
            options: dict[str, Any] = {"stop": stop} if stop else {}
            answer = openai.OpenAI(max_retries=2).chat.completions.create(
                model=self.model, messages=sent, temperature=self.temperature, **options)  # type: ignore[arg-type]
            usage = answer.usage
            message = AIMessage(content=answer.choices[0].message.content or "",
                                response_metadata={"model_name": answer.model},
                                usage_metadata=None if usage is None else {
                                    "input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
                                    "total_tokens": usage.total_tokens})
            return ChatResult(generations=[ChatGeneration(message=message)])

    return EndpointChatModel

