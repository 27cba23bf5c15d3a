"""A LangChain cache on the lineage store: ``set_llm_cache(LineageLLMCache())``.

LangChain asks a cache with two strings: the prompt (for a chat model, its messages serialised) and the
``llm_string`` (the model's class and invocation parameters). The key reads the parameters out of the
``llm_string`` field by field, so a miss says "temperature 0 → 0.7" rather than "llm_string changed", and the
sampling policy applies where the parameters say the model samples (a temperature above 0 without a seed;
a model whose parameters show no temperature is taken as the user asking for caching, as LangChain does).

Unlike LangChain's SQLite cache, many processes and threads may write one prompt at once (the first answer
stored wins; nobody raises), hits work across processes and hosts sharing the store, and every lookup is a
child run of the current step with its model, token usage, latency and cost. LangChain looks up and updates
in two calls with the model call between, so there is no single-flight here; route the model's HTTP client
through :class:`~lineage_core.llm.CachingTransport` for that.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import json
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.load import Serializable, dumps, loads
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

from .. import settings
from ..runtime import default_store
from .calls import Call, CallCache, Hit, Miss
from .policy import LLMCachePolicy
from .pricing import Price
from .record import StoredResponse

KIND = "langchain"  # the child runs' job: llm.langchain
_MAX_PENDING = 64
_MAX_LOADED = 256  # records whose loaded generations a cache keeps (as many as the call cache keeps records)
_LOADABLE: list[type[Serializable]] = [Generation, ChatGeneration, GenerationChunk, ChatGenerationChunk, AIMessage,
                                       AIMessageChunk]  # all a hit may load: generations and AI messages
_FORMAT = "lineage.generations/1"
_GENERATIONS: dict[str, type[Generation]] = {
    c.__name__: c for c in (ChatGenerationChunk, ChatGeneration, GenerationChunk, Generation)}
_MESSAGES: dict[str, type[AIMessage]] = {c.__name__: c for c in (AIMessageChunk, AIMessage)}


def llm_fields(llm_string: str) -> dict[str, Any]:
    """The model's parameters from LangChain's ``llm_string``: a serialisable model's JSON kwargs plus the
    call's ``[(name, value), ...]``, or the bare list; anything else is one field, ``llm_string`` itself."""
    head, sep, tail = llm_string.partition("---")
    fields: dict[str, Any] = {}
    try:
        if sep:
            model = json.loads(head)
            if isinstance(model, dict):
                fields["class"] = ".".join(map(str, model.get("id") or [])) or None
                fields.update(model.get("kwargs") or {})
            items = ast.literal_eval(tail)
        else:
            items = ast.literal_eval(llm_string)
        fields.update({str(k): v for k, v in items})
    except (ValueError, SyntaxError, TypeError):
        return {"llm_string": llm_string}
    return {k: v for k, v in fields.items() if v is not None}


def _nondeterministic(fields: Mapping[str, Any]) -> str | None:
    temperature = fields.get("temperature")
    if fields.get("seed") is not None or not isinstance(temperature, int | float) or temperature <= 0:
        return None
    return f"temperature {temperature:g} without a seed"


def _model(fields: Mapping[str, Any]) -> str | None:
    for name in ("model", "model_name", "model_id", "_type"):
        if isinstance(fields.get(name), str):
            return str(fields[name])
    return None


@functools.lru_cache(maxsize=512)
def _described(llm_string: str) -> tuple[dict[str, Any], str | None, str | None]:
    """The model's fields, name and why it samples, from its ``llm_string`` (which repeats: parsed once; read-only)."""
    fields = llm_fields(llm_string)
    return fields, _model(fields), _nondeterministic(fields)


def _produced(generations: Sequence[Generation]) -> dict[str, Any]:
    """Token usage and model from the generations' messages (summed), as LangChain's chat models report them."""
    usage = {"input": 0, "output": 0, "total": 0, "cached_input": 0}
    model, seen = None, False
    for g in generations:
        message = getattr(g, "message", None)
        meta = getattr(message, "usage_metadata", None) or {}
        if meta:
            seen = True
            usage["input"] += int(meta.get("input_tokens") or 0)
            usage["output"] += int(meta.get("output_tokens") or 0)
            usage["total"] += int(meta.get("total_tokens") or 0)
            usage["cached_input"] += int((meta.get("input_token_details") or {}).get("cache_read") or 0)
        response = getattr(message, "response_metadata", None) or {}
        model = model or response.get("model_name") or response.get("model")
    return {"usage": usage if seen else None, "model": model}


def _stored(generations: Sequence[Generation]) -> bytes:
    """The generations as stored: each one's class and fields (plain JSON, loaded by :func:`_generation` without
    LangChain's reviver, ~10x faster), or LangChain's own serialisation when a field is not JSON."""
    try:
        return json.dumps({"format": _FORMAT, "generations": [_plain(g) for g in generations]},
                          ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError):
        return json.dumps([dumps(g) for g in generations]).encode()


def _plain(generation: Generation) -> dict[str, Any]:
    kind = type(generation).__name__
    if kind not in _GENERATIONS:
        raise TypeError(f"{kind} is not stored in the plain format")
    out: dict[str, Any] = {"class": kind, "generation_info": generation.generation_info}
    message = getattr(generation, "message", None)
    if message is not None:
        if type(message).__name__ not in _MESSAGES:
            raise TypeError(f"{type(message).__name__} is not stored in the plain format")
        out["message"] = {"class": type(message).__name__, **message.model_dump(mode="json")}
    else:
        out["text"] = generation.text
    return out


def _generation(doc: Any) -> Generation:
    """A stored generation (ValueError for anything that is not one of the generation and AI message classes)."""
    if not isinstance(doc, dict) or doc.get("class") not in _GENERATIONS:
        raise ValueError("the entry holds something other than generations")
    cls = _GENERATIONS[doc["class"]]
    info = doc.get("generation_info")
    if not issubclass(cls, ChatGeneration):
        return cls(text=str(doc.get("text", "")), generation_info=info)
    fields = dict(doc["message"]) if isinstance(doc.get("message"), dict) else {}
    message_cls = _MESSAGES.get(fields.pop("class", None))
    if message_cls is None:
        raise ValueError("the entry holds a message other than an AI message")
    fields.pop("type", None)
    return cls(message=message_cls.model_validate(fields), generation_info=info)


def _copy(generation: Generation) -> Generation:
    """A generation and its message copied: pydantic's shallow copy, then every dict and list field copied as JSON
    (what a loaded generation holds), so nothing a caller changes in place reaches the next hit."""
    out = generation.model_copy()
    info = out.generation_info
    if info is not None:
        out.__dict__["generation_info"] = _json_copy(info)
    message = getattr(out, "message", None)
    if message is not None:
        copied = message.model_copy()
        values = copied.__dict__
        for name, value in values.items():
            if type(value) is dict or type(value) is list:
                values[name] = _json_copy(value)
        out.__dict__["message"] = copied
    return out


def _json_copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _json_copy(v) for k, v in value.items()}
    if kind is list:
        return [_json_copy(v) for v in value]
    return value


class LineageLLMCache(BaseCache):
    """LangChain's cache interface over the lineage store (the one ``LINEAGE_STORE_URL`` names).

    Options as the transport's: ``llm_cache`` (``"deterministic"``, ``"sample"``, ``"off"``), ``namespace``,
    ``prices``, ``salt``.
    """

    def __init__(self, *, llm_cache: str | LLMCachePolicy | None = None, namespace: str | None = None,
                 prices: Mapping[str, Price] | None = None, salt: str | None = None) -> None:
        self.calls = CallCache(llm_cache=llm_cache, namespace=namespace, prices=prices, salt=salt,
                               single_flight=False)
        self._pending: dict[tuple[str, str], list[Miss]] = {}  # lookup's misses, awaiting LangChain's update
        self._lock = threading.Lock()
        self._loaded: dict[int, tuple[StoredResponse, list[Generation]]] = {}  # id(record) -> its generations

    def _fresh(self, record: StoredResponse) -> list[Generation]:
        """The record's generations, as new objects on every hit (LangChain sets a hit's message id and metadata in
        place): loaded and validated once per verified record (the call cache hands out the same record object for
        a digest), then copied, the copy sharing no dict or list with the loaded ones."""
        known = self._loaded.get(id(record))
        if known is None or known[0] is not record:
            if len(self._loaded) >= _MAX_LOADED:
                self._loaded.clear()
            known = self._loaded[id(record)] = (record, self._load(record))
        return [_copy(g) for g in known[1]]

    def _call(self, prompt: str, llm_string: str) -> Call:
        fields, model, nondeterministic = _described(llm_string)
        return self.calls.prepare(KIND, {"prompt": prompt, **fields}, model=model, nondeterministic=nondeterministic,
                                  identity=(prompt, llm_string))

    def lookup(self, prompt: str, llm_string: str) -> Sequence[Generation] | None:
        if settings.disabled():  # the null path: LangChain calls the model, nothing is recorded
            return None
        return self._lookup(self._call(prompt, llm_string), prompt, llm_string)

    def _lookup(self, call: Call, prompt: str, llm_string: str) -> Sequence[Generation] | None:
        outcome = self.calls.decide(call, load=self._fresh)
        if isinstance(outcome, Hit):
            return outcome.value  # type: ignore[no-any-return]
        with self._lock:
            waiting = self._pending.setdefault((prompt, llm_string), [])
            waiting.append(outcome)
            del waiting[:-_MAX_PENDING]  # lookups whose model call failed are never updated: forget the oldest
        return None

    @staticmethod
    def _load(record: StoredResponse) -> list[Generation]:
        """The stored generations, loaded as nothing but generations and messages (ValueError otherwise)."""
        doc = json.loads(record.body or b"[]")
        if isinstance(doc, dict) and doc.get("format") == _FORMAT:
            return [_generation(g) for g in doc.get("generations") or []]
        with warnings.catch_warnings():  # an entry stored before the plain format: LangChain's own
            warnings.simplefilter("ignore")  # loads() is "beta" in langchain-core
            items = [loads(text, allowed_objects=_LOADABLE) for text in doc]
        if not all(isinstance(g, Generation) for g in items):
            raise ValueError("the entry holds something other than generations")
        return items

    def update(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        if settings.disabled():
            return
        with self._lock:
            waiting = self._pending.get((prompt, llm_string))
            miss = waiting.pop(0) if waiting else None
            if waiting == []:
                del self._pending[(prompt, llm_string)]
        if miss is None:  # an update without our lookup first (a writer of its own): decide now
            outcome = self.calls.decide(self._call(prompt, llm_string), load=self._fresh)
            if isinstance(outcome, Hit):
                return  # already stored: the first answer wins
            miss = outcome
        if miss.store_it and settings.global_cache_mode().reads and miss.call.store.lookup(miss.call.runs.key):
            miss.store_it = False  # a concurrent writer of the same prompt stored first: its answer stays
        body = _stored(return_val)
        self.calls.finish(miss, StoredResponse(200, "application/json", body, None, _produced(return_val)))

    def clear(self, **kwargs: Any) -> None:
        """Invalidate every entry this cache kind stored (the ``llm.langchain`` job, every namespace)."""
        store = default_store()
        invalidate = getattr(store, "invalidate", None)
        if invalidate is None:
            raise NotImplementedError(f"store {store.url} cannot invalidate by job; use `lineage cache invalidate`")
        invalidate(job=f"llm.{KIND}")

    async def alookup(self, prompt: str, llm_string: str) -> Sequence[Generation] | None:
        if settings.disabled():
            return None
        call = self._call(prompt, llm_string)  # here: the current step is found on this thread
        return await asyncio.to_thread(self._lookup, call, prompt, llm_string)

    async def aupdate(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        await asyncio.to_thread(self.update, prompt, llm_string, return_val)

    async def aclear(self, **kwargs: Any) -> None:
        await asyncio.to_thread(self.clear, **kwargs)
