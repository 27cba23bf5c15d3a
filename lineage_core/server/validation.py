"""What the server accepts, in one place: every bad input is a 4xx with Marquez's body ``{code, message,
details}`` (the shape its web UI parses), on SQLite and PostgreSQL alike, and is refused before anything
is stored.

- **Paths and query strings**, on every route (:class:`GuardRequests`): valid UTF-8 once percent-decoded,
  no control character, no path segment over 1,023 bytes (a segment is a name, an id or a key), no query
  value over :data:`MAX_QUERY` characters: 400.
- **Ingest bodies** (``POST /api/v1/lineage`` and ``/lineage/batch``): a ``Content-Type`` that is not JSON is
  415, as Marquez (Jersey) answers; none at all is read as JSON.
- **JSON bodies**, on every route (:class:`GuardRequests`, for a JSON content type; :func:`parse_json`):
  strict JSON (no ``NaN``/``Infinity``) that :func:`~lineage_core.openlineage.stored_values.check_json` accepts — no
  NUL or lone surrogate, 64-bit integers, finite numbers, at most ``MAX_DEPTH`` levels: 400; over
  :data:`MAX_BODY`: 413. The parsed value rides in the request scope (:data:`JSON_KEY`), parsed once.
- **Typed parameters**: :data:`Limit` (1..10,000), :data:`Offset` (0..2**63-1), :data:`INT64` bounds, and the name
  types of the event models (:data:`Name`, :data:`Namespace`: 1,023 and 255 bytes of UTF-8, no control
  characters) for bodies; a failed parameter is a 400, a failed body a 422, as Marquez (Dropwizard) answers.
- **Everything else FastAPI refuses** (an unknown route, a wrong method, an ``HTTPException``) keeps its
  status in Marquez's body, and a store that cannot answer is a 503, never a bare 500 (:func:`install`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote_to_bytes

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import LineageError, RunNotFoundError, StoreConflictError, StoreError
from ..openlineage import stored_values
from ..openlineage.stored_values import (
    INT64,
    MAX_NAME,
    MAX_NAMESPACE,
    Name,
    Namespace,
    check_json,
    plain_text,
)

__all__ = ["INT64", "JSON_KEY", "MAX_BODY", "MAX_NAME", "BadRequest", "GuardRequests", "JobName", "Limit",
           "Name", "Namespace", "Offset", "check_name", "check_node", "error", "install", "parse_json", "timestamp"]

MAX_BODY = 10 * 1024 * 1024
MAX_LIMIT = 10_000
JSON_KEY = "lineage.json"  # the request scope's parsed JSON body (set by GuardRequests)
RAW_BODIES = ("/api/v1/store/blobs/",)  # routes whose body is bytes whatever its content type says
INGEST = ("/api/v1/lineage", "/api/v1/lineage/batch")  # routes that take JSON and nothing else
MAX_QUERY = 4096  # characters in one query value (a nodeId is two names and a prefix)
_MESSAGE = 2000  # characters of a message we send back (never a hostile input in full)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=INT64[1])]
# the cache store's jobs (their columns: 255 and 512 characters), within the names lineage tables take
JobName = Annotated[str, StringConstraints(min_length=1, max_length=512), AfterValidator(stored_values.check_name)]


class BadRequest(LineageError, ValueError):
    """A request the server refuses as it is (nothing was stored); ``status`` is its 4xx."""

    def __init__(self, message: str, status: int = 400, details: Any = None) -> None:
        self.status, self.details = status, details
        super().__init__(message)


def _clean(text: str) -> str:
    """A message that is safe to send: bounded, and UTF-8 encodable even if it quotes a hostile input."""
    text = text if len(text) <= _MESSAGE else text[:_MESSAGE] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error(status: int, message: str, details: Any = None) -> JSONResponse:
    """Marquez's error shape, which its web UI parses: {code, message, details}."""
    if isinstance(details, list):
        details = [_clean(d) if isinstance(d, str) else d for d in details[:100]]
    return JSONResponse({"code": status, "message": _clean(message), "details": details}, status_code=status)


# -- JSON bodies -----------------------------------------------------------------------------------
def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """The value of a JSON body the store can hold; :class:`BadRequest` (400) naming what is wrong otherwise."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, an integer of thousands of digits
        raise BadRequest(f"malformed JSON: {e}") from None
    try:
        check_json(value)
    except ValueError as e:
        raise BadRequest(f"unsupported JSON: {e}") from None
    return value


def timestamp(value: str, what: str) -> float:
    """Seconds since the epoch of an ISO-8601 date-time; :class:`BadRequest` otherwise."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.timestamp()
    except (ValueError, OverflowError):
        raise BadRequest(f"{what} {value[:64]!r} is not an ISO-8601 date-time") from None


def check_name(value: str, what: str, max_bytes: int = MAX_NAME) -> str:
    """A name taken from a query value (a nodeId's namespace or name): :class:`BadRequest` if no store holds it."""
    try:
        if not value:
            raise ValueError("is empty")
        return stored_values.check_name(value, max_bytes)
    except ValueError as e:
        raise BadRequest(f"{what} {e}") from None


def check_node(namespace: str, name: str) -> None:
    check_name(namespace, "the namespace", MAX_NAMESPACE)
    check_name(name, "the name")


# -- paths and query strings -----------------------------------------------------------------------
def _segment(raw: bytes) -> None:
    decoded = unquote_to_bytes(raw)
    if len(decoded) > MAX_NAME:
        raise BadRequest(f"a path segment is longer than {MAX_NAME} bytes (names, ids and keys are shorter)")
    try:
        plain_text(decoded.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("a path segment is not UTF-8 text once percent-decoded") from None
    except ValueError as e:
        raise BadRequest(f"a path segment {e}") from None


def _request_problem(scope: dict[str, Any]) -> BadRequest | None:
    """Why a request's path or query string is refused, or None."""
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    try:
        for segment in raw.split(b"?", 1)[0].split(b"/"):
            _segment(segment)
        query = scope.get("query_string") or b""
        if query:
            try:
                pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
            except UnicodeDecodeError:
                raise BadRequest("the query string is not UTF-8 text once percent-decoded") from None
            for key, value in pairs:
                for part, what in ((key, "a query parameter name"), (value, f"query parameter {key[:64]!r}")):
                    _query_text(part, what)
    except BadRequest as e:
        return e
    return None


def _query_text(text: str, what: str) -> None:
    if len(text) > MAX_QUERY:
        raise BadRequest(f"{what} is longer than {MAX_QUERY} characters")
    try:
        plain_text(text)
    except ValueError as e:
        raise BadRequest(f"{what} {e}") from None


def _media(scope: dict[str, Any]) -> bytes | None:
    """The request's media type (``application/json``), or None when it names none."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media
    return None


def _json_media(media: bytes) -> bool:
    """What FastAPI parses as JSON: ``application/json``, ``application/…+json``."""
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def _is_json(scope: dict[str, Any]) -> bool:
    """The request says its body is JSON, and its route reads it as JSON."""
    if str(scope.get("path", "")).startswith(RAW_BODIES):
        return False
    media = _media(scope)
    return media is not None and _json_media(media)


def _unsupported(scope: dict[str, Any]) -> BadRequest | None:
    """An ingest route's body that says it is not JSON (415)."""
    if scope.get("method") != "POST" or str(scope.get("path", "")).rstrip("/") not in INGEST:
        return None
    media = _media(scope)
    if media is None or _json_media(media):
        return None
    shown = media.decode("latin-1")[:64]
    return BadRequest(f"HTTP 415 Unsupported Media Type: {shown!r}; send application/json", 415)


async def _read_body(scope: dict[str, Any], receive: Any) -> bytes:
    """The whole body (at most :data:`MAX_BODY` bytes, else a 413 :class:`BadRequest`)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY:
            raise BadRequest(f"request body over {MAX_BODY} bytes", 413)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the route sees what arrived
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY:
            raise BadRequest(f"request body over {MAX_BODY} bytes", 413)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class GuardRequests:
    """ASGI middleware in front of every route: a path or query string no route could take, or a JSON body no
    store could hold, is refused (400, or 413) before routing; an accepted JSON body is parsed once."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            try:
                problem = _request_problem(scope) or _unsupported(scope)
                if problem is not None:
                    raise problem
                if _is_json(scope):
                    body = await _read_body(scope, receive)
                    if body:
                        scope[JSON_KEY] = parse_json(body)
                    receive = _replay(body, receive)
            except BadRequest as e:
                await error(e.status, str(e))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands the route the body already read, then whatever comes next (a disconnect)."""
    sent = False

    async def again() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return again


# -- FastAPI's refusals in Marquez's body ----------------------------------------------------------
def _validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type")}
                for e in exc.errors()[:20]]
    in_body = any(p["loc"][:1] == ["body"] for p in problems)
    first = problems[0] if problems else {"loc": ["request"], "msg": "invalid"}
    source, *where = first["loc"] or ["request"]
    kind = {"body": "body field", "query": "query parameter", "path": "path parameter"}.get(source, source)
    named = f"{kind} {'.'.join(where)}" if where else source
    return error(422 if in_body else 400, f"invalid {named}: {first['msg']}", problems)


def _http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    response = error(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


def _bad_request(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    return error(exc.status, str(exc), exc.details)


def _store_error(_: Request, exc: Exception) -> Response:
    if isinstance(exc, RunNotFoundError):
        return error(404, str(exc))
    if isinstance(exc, StoreConflictError):
        return error(409, str(exc))
    return error(503, f"the store cannot answer: {exc}")


def _unexpected(_: Request, exc: Exception) -> Response:
    return error(500, f"internal error ({type(exc).__name__}); the server log has the details")


def install(app: FastAPI) -> None:
    """Marquez's error body for every refusal, and :class:`GuardRequests` in front of every route."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(BadRequest, _bad_request)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(GuardRequests)
