"""How LineageLLMCache stores LangChain generations: plain JSON of each generation's class and fields, loaded back
as equal objects without LangChain's reviver (chat generations with tool calls and usage, text generations,
chunks); an entry in LangChain's own serialisation (what earlier versions stored) still loads; a stored class
outside the generations and AI messages is refused (a damaged entry, never an object of the entry's choosing)."""

from __future__ import annotations

import json

import pytest
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

from lineage_core.llm.langchain import LineageLLMCache, _stored
from lineage_core.llm.record import StoredResponse

GENERATIONS = [
    ChatGeneration(message=AIMessage(
        content="", tool_calls=[{"name": "calculator", "args": {"query": "6 * 7"}, "id": "call_1"}],
        usage_metadata={"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
        response_metadata={"model_name": "gpt-4o-mini"}, id="run-1"), generation_info={"finish_reason": "tool_calls"}),
    ChatGeneration(message=AIMessage(content=[{"type": "text", "text": "42"}])),
    ChatGenerationChunk(message=AIMessageChunk(content="4")),
    Generation(text="forty-two", generation_info={"logprobs": None}),
    GenerationChunk(text="forty"),
]


def record(body: bytes) -> StoredResponse:
    return StoredResponse(200, "application/json", body)


def test_generations_round_trip_in_the_plain_format() -> None:
    body = _stored(GENERATIONS)
    assert json.loads(body)["format"] == "lineage.generations/1"
    loaded = LineageLLMCache._load(record(body))
    assert loaded == GENERATIONS
    assert [type(g) for g in loaded] == [type(g) for g in GENERATIONS]
    assert [type(getattr(g, "message", None)) for g in loaded] == [type(getattr(g, "message", None))
                                                                   for g in GENERATIONS]


def test_an_entry_in_langchains_serialisation_still_loads() -> None:
    body = json.dumps([dumps(g) for g in GENERATIONS[:2]]).encode()
    assert LineageLLMCache._load(record(body)) == GENERATIONS[:2]


def test_a_foreign_class_is_refused() -> None:
    plain = json.loads(_stored(GENERATIONS[:1]))
    for change in ({"class": "HumanMessage"}, {"class": "Serializable"}):
        doc = json.loads(json.dumps(plain))
        doc["generations"][0]["message"].update(change)
        with pytest.raises(ValueError):
            LineageLLMCache._load(record(json.dumps(doc).encode()))
    doc = json.loads(json.dumps(plain))
    doc["generations"][0]["class"] = "PromptTemplate"
    with pytest.raises(ValueError):
        LineageLLMCache._load(record(json.dumps(doc).encode()))
    with pytest.raises(ValueError):  # LangChain's own format: its allowlist refuses a human message
        LineageLLMCache._load(record(json.dumps([dumps(HumanMessage(content="hi"))]).encode()))


def test_every_hit_gets_its_own_generations() -> None:
    """A record is loaded once and copied per hit: what one caller changes in place (LangChain sets a hit's message
    id and metadata) never reaches the next hit, and a copy keeps the loaded fields (and which were set) exactly."""
    cache, stored = LineageLLMCache(), record(_stored(GENERATIONS))
    first = cache._fresh(stored)
    assert first == GENERATIONS
    loaded = LineageLLMCache._load(stored)
    assert [g.model_fields_set for g in first] == [g.model_fields_set for g in loaded]
    assert [type(g) for g in first] == [type(g) for g in loaded]
    message = first[0].message  # type: ignore[attr-defined]
    message.id = "run-changed"
    message.response_metadata["model_name"] = "changed"
    message.tool_calls[0]["args"]["query"] = "changed"
    first[0].generation_info["finish_reason"] = "changed"  # type: ignore[index]
    first[1].message.content[0]["text"] = "changed"  # type: ignore[attr-defined, index]
    first[3].generation_info["logprobs"] = [1]  # type: ignore[index]
    second = cache._fresh(stored)
    assert second == GENERATIONS
    assert second[0] is not first[0] and second[0].message is not message  # type: ignore[attr-defined]
