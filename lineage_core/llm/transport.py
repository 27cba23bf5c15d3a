"""httpx transports that cache LLM API calls under the official ``openai`` SDK (or any OpenAI-compatible client).

    client = openai.OpenAI(http_client=httpx.Client(transport=CachingTransport()))
    client = openai.AsyncOpenAI(http_client=httpx.AsyncClient(transport=AsyncCachingTransport()))

The SDK is unchanged: chat completions, responses, embeddings, moderations and legacy completions (tool
calls included: they are part of the request and the answer) go through the cache; every other request
passes through. A hit answers without a connection; a miss is sent once (the others asking the same wait for
it, across processes and hosts) and its answer stored when it is a 2xx. A streamed answer (``stream=True``)
is passed on chunk by chunk as it arrives, stored whole when it ends, and replayed as the same chunks; a
stream the caller closes early, an error status or an error event is never stored. Responses carry
``x-lineage-cache: hit|miss|bypass`` and ``x-lineage-run-id`` (the child run of the call).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

import httpx

from .. import settings
from ..errors import SingleFlightTimeout
from ..runs import RunStatus
from .calls import Call, CallCache, Hit, Miss
from .policy import LLMCachePolicy
from .pricing import Price
from .record import StoredResponse, refill, split_events, stream_failed, usage_and_model
from .request import LLMRequest, parse_request

_HOP_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})  # the body is decoded here


def _llm_request(request: httpx.Request) -> LLMRequest | None:
    return parse_request(request.method, request.url.path, request.url.params.multi_items(),
                         request.headers.get("content-type", ""), request.content)


_REMEMBERED_BODY = 64 * 1024  # bytes of a request body under which its manifest is remembered by the body


def _prepare(calls: CallCache, llm: LLMRequest, content: bytes = b"") -> Call:
    identity = (llm.endpoint, llm.query, content) if 0 < len(content) <= _REMEMBERED_BODY else None
    return calls.prepare(llm.kind, llm.fields(), model=llm.model, nondeterministic=llm.nondeterministic(),
                         bypass=llm.passthrough, stream=llm.stream, identity=identity)


def _replay(request: httpx.Request, hit: Hit, llm: LLMRequest) -> httpx.Response:
    record = refill(hit.record, llm.body)
    headers = [("content-type", record.content_type), ("x-lineage-cache", "hit"), ("x-lineage-run-id", hit.run_id)]
    if record.events is not None:
        return httpx.Response(record.status, headers=headers, stream=_Replay(record.events), request=request)
    return httpx.Response(record.status, headers=headers, content=record.body, request=request)


def _headers(response: httpx.Response, miss: Miss) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _HOP_HEADERS]
    return [*kept, ("x-lineage-cache", "miss" if miss.store_it else "bypass"), ("x-lineage-run-id", miss.run_id)]


def _streamed(response: httpx.Response) -> bool:
    return response.is_success and "text/event-stream" in response.headers.get("content-type", "")


def _whole(response: httpx.Response, body: bytes) -> StoredResponse | str:
    """The answer to record, or why it is not one to keep (an error status, a body that is not text)."""
    if not response.is_success:
        return f"HTTP {response.status_code}: {body[:300].decode(errors='replace')}"
    try:
        body.decode()
    except UnicodeDecodeError:
        return "the response is not UTF-8 text: not stored"
    usage, model = usage_and_model(body, None)
    return StoredResponse(response.status_code, response.headers.get("content-type", "application/json"), body, None,
                          {"usage": usage, "model": model})


def _stream_end(response: httpx.Response, raw: bytes, exhausted: bool) -> StoredResponse | str:
    """A finished stream as a record, or why it is not kept (closed before its end, an error event)."""
    events = split_events(raw)
    if not (exhausted or any(e.startswith(b"data: [DONE]") for e in events)):
        return "the stream was closed before its end: not stored"
    if stream_failed(events):
        return "the stream reported an error: not stored"
    try:
        raw.decode()
    except UnicodeDecodeError:
        return "the stream is not UTF-8 text: not stored"
    usage, model = usage_and_model(None, events)
    return StoredResponse(response.status_code, response.headers.get("content-type", "text/event-stream"), None,
                          events, {"usage": usage, "model": model})


def _settle(calls: CallCache, miss: Miss, outcome: StoredResponse | str, aborted: bool = False) -> None:
    if isinstance(outcome, StoredResponse):
        calls.finish(miss, outcome)
    else:
        calls.fail(miss, outcome, RunStatus.ABORTED if aborted else RunStatus.FAILED)


class _Replay(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A stored stream's events, one chunk each."""

    def __init__(self, events: tuple[bytes, ...]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from self._events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self._events:
            yield event


class _Tee(httpx.SyncByteStream):
    """Passes the upstream stream on as it arrives and records it when the caller closes it."""

    def __init__(self, upstream: httpx.Response, end: Callable[[bytes, bool], None]) -> None:
        self._upstream, self._end = upstream, end
        self._chunks: list[bytes] = []
        self._exhausted = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._upstream.iter_bytes():
            self._chunks.append(chunk)
            yield chunk
        self._exhausted = True

    def close(self) -> None:
        try:
            self._upstream.close()
        finally:
            self._end(b"".join(self._chunks), self._exhausted)

    def __del__(self) -> None:  # a stream dropped unclosed still releases its lease (a no-op once recorded)
        with contextlib.suppress(Exception):
            self._end(b"".join(self._chunks), self._exhausted)


class _AsyncTee(httpx.AsyncByteStream):
    def __init__(self, upstream: httpx.Response, end: Callable[[bytes, bool], None]) -> None:
        self._upstream, self._end = upstream, end
        self._chunks: list[bytes] = []
        self._exhausted = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._upstream.aiter_bytes():
            self._chunks.append(chunk)
            yield chunk
        self._exhausted = True

    async def aclose(self) -> None:
        try:
            await self._upstream.aclose()
        finally:
            await asyncio.to_thread(self._end, b"".join(self._chunks), self._exhausted)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._end(b"".join(self._chunks), self._exhausted)


class CachingTransport(httpx.BaseTransport):
    """An httpx transport that answers LLM API calls from the lineage cache (wraps ``transport``, default
    ``httpx.HTTPTransport()``). Options: ``llm_cache`` (``"deterministic"`` default, ``"sample"``, ``"off"``),
    ``namespace``, ``prices`` (model -> :class:`~lineage_core.llm.Price`), ``salt``, ``single_flight``,
    ``wait_timeout`` — see docs/llm.md."""

    def __init__(self, transport: httpx.BaseTransport | None = None, *, llm_cache: str | LLMCachePolicy | None = None,
                 namespace: str | None = None, prices: Mapping[str, Price] | None = None, salt: str | None = None,
                 single_flight: bool = True, wait_timeout: float | None = None) -> None:
        self.calls = CallCache(llm_cache=llm_cache, namespace=namespace, prices=prices, salt=salt,
                               single_flight=single_flight, wait_timeout=wait_timeout)
        self.transport = transport if transport is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        llm = None if settings.disabled() else _llm_request(request)
        if llm is None:
            return self.transport.handle_request(request)
        outcome = self.calls.decide(_prepare(self.calls, llm, request.content))
        if isinstance(outcome, Hit):
            return _replay(request, outcome, llm)
        try:
            response = self.transport.handle_request(request)
        except BaseException as e:
            self.calls.fail(outcome, f"{type(e).__name__}: {e}")
            raise
        if _streamed(response):
            def end(raw: bytes, exhausted: bool) -> None:
                _settle(self.calls, outcome, _stream_end(response, raw, exhausted), aborted=not exhausted)
            return httpx.Response(response.status_code, headers=_headers(response, outcome),
                                  stream=_Tee(response, end), request=request)
        try:
            body = response.read()
        except BaseException as e:
            self.calls.fail(outcome, f"{type(e).__name__}: {e}")
            raise
        finally:
            response.close()
        _settle(self.calls, outcome, _whole(response, body))
        return httpx.Response(response.status_code, headers=_headers(response, outcome), content=body, request=request)

    def close(self) -> None:
        self.transport.close()


class AsyncCachingTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`CachingTransport` (wraps ``transport``, default ``httpx.AsyncHTTPTransport()``)
    for ``openai.AsyncOpenAI``; store work runs in a worker thread, never blocking the event loop."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None, *,
                 llm_cache: str | LLMCachePolicy | None = None, namespace: str | None = None,
                 prices: Mapping[str, Price] | None = None, salt: str | None = None, single_flight: bool = True,
                 wait_timeout: float | None = None) -> None:
        self.calls = CallCache(llm_cache=llm_cache, namespace=namespace, prices=prices, salt=salt,
                               single_flight=single_flight, wait_timeout=wait_timeout)
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        llm = None if settings.disabled() else _llm_request(request)
        if llm is None:
            return await self.transport.handle_async_request(request)
        call = _prepare(self.calls, llm, request.content)  # here: the current step is found on this thread
        outcome = await self._decide(call)
        if isinstance(outcome, Hit):
            return _replay(request, outcome, llm)
        try:
            response = await self.transport.handle_async_request(request)
        except BaseException as e:
            await asyncio.to_thread(self.calls.fail, outcome, f"{type(e).__name__}: {e}")
            raise
        if _streamed(response):
            def end(raw: bytes, exhausted: bool) -> None:
                _settle(self.calls, outcome, _stream_end(response, raw, exhausted), aborted=not exhausted)
            return httpx.Response(response.status_code, headers=_headers(response, outcome),
                                  stream=_AsyncTee(response, end), request=request)
        try:
            body = await response.aread()
        except BaseException as e:
            await asyncio.to_thread(self.calls.fail, outcome, f"{type(e).__name__}: {e}")
            raise
        finally:
            await response.aclose()
        await asyncio.to_thread(_settle, self.calls, outcome, _whole(response, body))
        return httpx.Response(response.status_code, headers=_headers(response, outcome), content=body, request=request)

    async def _decide(self, call: Call) -> Hit | Miss:
        """``decide`` in a worker thread; waiting for another worker's answer happens here, on the event loop
        (a waiter never holds a thread the leader needs)."""
        timeout = self.calls.wait_timeout or settings.wait_timeout()
        deadline, delay = time.monotonic() + timeout, 0.01
        outcome = await asyncio.to_thread(self.calls.try_decide, call)
        while outcome is None:
            if time.monotonic() > deadline:
                holder = call.store.lease(call.runs.key)
                raise SingleFlightTimeout(call.runs.job, call.runs.key, holder[0] if holder else None, timeout)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)
            outcome = await asyncio.to_thread(self.calls.try_decide, call, True)
        return outcome

    async def aclose(self) -> None:
        await self.transport.aclose()
