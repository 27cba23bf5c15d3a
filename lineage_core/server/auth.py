"""Bearer tokens with scopes, and the one FastAPI dependency per scope that every route declares.

Tokens come from ``LINEAGE_SERVER_TOKENS`` (comma-separated, each a bare token) and the file named by
``LINEAGE_SERVER_TOKEN_FILE`` (one a line, e.g. a mounted Kubernetes secret). A line is either a bare token
(every scope, every namespace: today's meaning, named ``token-1``, ``token-2``… in order) or
``NAME:TOKEN:scope[,scope][:namespace-glob[,glob]]``. Scopes (:class:`Scope`): ``read`` (lineage and run
views), ``ingest`` (OpenLineage events), ``cache`` (the store API and cache views), ``admin`` (invalidate, gc,
pins, the audit trail). A token is never logged, stored or put in a message: its name stands for it.

When the server is exposed (bound off loopback) every route needs a token with its scope; on loopback nothing
is required (a valid token still names the caller in the audit trail). ``LINEAGE_SERVER_ANONYMOUS_READ=lineage``
opens the routes that declare :data:`LINEAGE` (the Marquez read API) to callers without a token.

A namespace-limited token may touch only namespaces its globs match: a route whose path names a namespace, a
job, a run or a key outside them is 403 (read or write), as is a write whose body names one
(:meth:`Caller.require`), and routes that answer across namespaces declare :func:`every_namespace`, which
refuses such a token. Content-addressed data (blobs, environments, remote-object hashes) has no namespace.
"""

from __future__ import annotations

import fnmatch
import hmac
import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.routing import Match

from ..errors import ConfigError, LineageError
from ..settings import SERVER_TOKENS_ENV, Settings
from .paths import routed, segment
from .validation import error

if TYPE_CHECKING:
    from ..store.owners import Owners

AUDIT_KEY = "lineage.audit"  # the request scope's AuditNote (set by the audit trail on writes)
CALLER_KEY = "lineage.caller"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class Scope(str, Enum):
    READ = "read"  # the Marquez read API, the event log, run views (environment, diff)
    INGEST = "ingest"  # OpenLineage events in
    CACHE = "cache"  # the store API (reads and writes) and cache views
    ADMIN = "admin"  # invalidate, gc, pins, the audit trail


ALL_SCOPES = frozenset(Scope)


class AccessDenied(LineageError, PermissionError):
    """401 (no valid token) or 403 (a token without the scope, or outside its namespaces)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Token:
    name: str
    secret: str = field(repr=False)
    scopes: frozenset[Scope] = ALL_SCOPES
    namespaces: tuple[str, ...] = ()  # glob patterns; () = every namespace


def parse_tokens(entries: Sequence[str]) -> list[Token]:
    """The tokens ``entries`` (as :func:`load_tokens` returns them) define; a bad entry is a ConfigError
    naming its position and name, never its secret."""
    tokens: list[Token] = []
    bare = 0
    for n, entry in enumerate(entries, 1):
        if ":" not in entry:
            bare += 1
            tokens.append(Token(f"token-{bare}", entry))
            continue
        name, secret, scopes, *rest = (part.strip() for part in entry.split(":", 3))
        where = f"token entry {n}"
        if not _NAME.match(name):
            raise ConfigError(f"{where}: the name (before the first ':') must be 1-64 letters, digits, '.', '_', "
                              "'@' or '-'; the format is NAME:TOKEN:scope[,scope][:namespace-glob]")
        where += f" ({name})"
        given = {s.strip() for s in scopes.split(",") if s.strip()}
        unknown = sorted(given - {s.value for s in Scope})
        if not secret or not given or unknown:
            problem = "no token" if not secret else f"unknown scopes {unknown}" if unknown else "no scope"
            raise ConfigError(f"{where}: {problem}; scopes are {', '.join(s.value for s in Scope)}")
        globs = tuple(g.strip() for g in rest[0].split(",") if g.strip()) if rest else ()
        if rest and not globs:
            raise ConfigError(f"{where}: an empty namespace pattern after the scopes")
        tokens.append(Token(name, secret, frozenset(Scope(s) for s in given), globs))
    seen: dict[str, Token] = {}
    for t in tokens:
        other = seen.setdefault(t.secret, t)
        if other is not t and (other.scopes, other.namespaces) != (t.scopes, t.namespaces):
            raise ConfigError(f"tokens {other.name} and {t.name} are the same token with different scopes")
    return tokens


def load_tokens(settings: Settings | None = None) -> list[str]:
    """The token entries of ``LINEAGE_SERVER_TOKENS`` and then ``LINEAGE_SERVER_TOKEN_FILE`` (see
    :func:`parse_tokens`). The variable holds bare tokens only: its commas would split a scope list."""
    s = settings or Settings.current()
    if any(":" in t for t in s.server_tokens):
        raise ConfigError(f"{SERVER_TOKENS_ENV} holds bare tokens only (comma-separated): put scoped tokens "
                          "(NAME:TOKEN:scope[,scope][:namespace-glob]) in LINEAGE_SERVER_TOKEN_FILE, one a line")
    tokens = list(s.server_tokens)
    path = s.server_token_file
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                tokens += [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
        except OSError as e:
            raise ConfigError(f"cannot read LINEAGE_SERVER_TOKEN_FILE: {e.strerror}") from None
    return tokens


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _plain(value: str) -> bool:
    """A value the store could hold as a name: looked up; anything else is left to the route's validation."""
    return len(value) <= 1024 and value.isprintable()


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # any header text, non-ASCII included: never a TypeError


@dataclass
class AuditNote:
    """What the audit trail records of one write: filled by the route's scope dependency and the route."""

    token: str = "anonymous"  # noqa: S105 - a name, never a token
    action: str | None = None  # None: no route took the request, nothing is recorded
    route: str = ""
    target: str | None = None
    namespaces: set[str] = field(default_factory=set)
    skip: bool = False
    recorded: bool = False  # the route wrote its row itself (the hit: in the transaction of the run it records)

    def fill(self, method: str, path: str, route: Any, path_params: dict[str, Any], token: str) -> None:
        """Who (the token's name), which route and what its path names."""
        self.action = getattr(route, "name", None) or path
        self.route = f"{method} {getattr(route, 'path', path)}"
        self.token = token
        params = {k: v for k, v in path_params.items() if k != "namespace"}
        self.target = " ".join(f"{k}={v}" for k, v in params.items()) or None
        if "namespace" in path_params:
            self.namespaces.add(segment(path_params["namespace"]))


@dataclass(frozen=True)
class Caller:
    """Who is calling: a token's name (or ``anonymous``) and the namespaces this call may touch."""

    name: str
    namespaces: tuple[str, ...] = ()  # globs; () = no limit
    owners: Owners | None = field(default=None, repr=False, compare=False)
    note: AuditNote | None = field(default=None, repr=False, compare=False)

    @property
    def limited(self) -> bool:
        return bool(self.namespaces)

    def allows(self, namespace: str) -> bool:
        return not self.namespaces or any(fnmatch.fnmatchcase(namespace, g) for g in self.namespaces)

    def require(self, *namespaces: str | None) -> None:
        """Refuse (403) if any of ``namespaces`` is outside this caller's; they are the audit row's namespaces."""
        named = {n for n in namespaces if n is not None}
        if self.note is not None:
            self.note.namespaces |= named
        outside = sorted(n for n in named if not self.allows(n))
        if outside:
            raise AccessDenied(403, f"token '{self.name}' may not touch namespace '{outside[0][:200]}' "
                                    f"(it is limited to {', '.join(self.namespaces)})")

    def require_job(self, job_id: int) -> None:
        """:meth:`require` for the namespace of the job ``job_id`` (unknown jobs are left to the route)."""
        if self.owners is not None:
            self.require(*self.owners.of_job(job_id))

    def require_events(self, events: Sequence[Any]) -> None:
        """:meth:`require` for the jobs' namespaces of OpenLineage events; what is not an event is left to
        ingest's validation. Datasets are shared between namespaces and are not checked."""
        jobs = [e.get("job") for e in events if isinstance(e, dict)]
        self.require(*(j["namespace"] for j in jobs if isinstance(j, dict) and isinstance(j.get("namespace"), str)))
        runs = [e.get("run") for e in events if isinstance(e, dict)]
        ids = {r.get("runId") for r in runs if isinstance(r, dict) and isinstance(r.get("runId"), str)}
        self.describe(f"run={next(iter(ids))}" if len(ids) == 1 else f"{len(events)} events, {len(ids)} runs")

    def describe(self, target: str) -> None:
        """What the write touched, for its audit row (when the path does not say it all)."""
        if self.note is not None:
            self.note.target = target


class Guard:
    """The server's access policy: the tokens, whether they are required, whether lineage reads are open."""

    def __init__(self, tokens: Sequence[Token], required: bool, anonymous_read: bool = False,
                 owners: Owners | None = None) -> None:
        self.tokens = list(tokens)
        self.required = required
        self.anonymous_read = anonymous_read
        self.owners = owners

    def identify(self, header: str | None) -> Token | None:
        scheme, _, given = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return None
        raw = _bytes(given.strip())
        found = None
        for t in self.tokens:  # compare with every token: the time taken does not say which one matched
            if hmac.compare_digest(raw, _bytes(t.secret)) and found is None:
                found = t
        return found

    def namespaces_in_path(self, params: dict[str, Any]) -> set[str]:
        """The namespaces a route's path parameters name (directly, or as the job, run or key's own)."""
        found: set[str] = set()
        if "namespace" in params:
            found.add(segment(params["namespace"]))
        if self.owners is not None and all(_plain(str(v)) for v in params.values()):  # else the route says 4xx
            if "key" in params:
                found |= self.owners.of_key(params["key"])
            if "run_id" in params:
                found |= self.owners.of_run(params["run_id"])
            if str(params.get("job_id", "")).isdigit():
                found |= self.owners.of_job(int(params["job_id"]))
        return found


class Need:
    """The dependency that admits a caller to a route for one :class:`Scope`; declare it on the route (or its
    router) as ``Depends(CACHE)``, or as a parameter ``caller: Annotated[Caller, Depends(CACHE)]`` to use the
    :class:`Caller`. FastAPI calls it once per request however often it is declared."""

    def __init__(self, scope: Scope, anonymous: bool = False) -> None:
        self.scope = scope
        self.anonymous = anonymous  # open when the server runs with LINEAGE_SERVER_ANONYMOUS_READ=lineage

    def __repr__(self) -> str:
        return f"Need({self.scope.value}{', anonymous' if self.anonymous else ''})"

    async def __call__(self, request: Request) -> Caller:
        guard: Guard = request.app.state.guard
        note: AuditNote | None = request.scope.get(AUDIT_KEY)
        header = request.headers.get("authorization")
        token = guard.identify(header) if header else None
        if note is not None:
            note.fill(request.method, request.url.path, request.scope.get("route"), request.path_params,
                      token.name if token else "anonymous" if not header else "invalid-token")
        if not guard.required or (self.anonymous and guard.anonymous_read):
            caller = Caller(token.name if token else "anonymous", (), guard.owners, note)
        elif token is None:
            raise AccessDenied(401, "a valid bearer token is required")
        elif self.scope not in token.scopes:
            have = ", ".join(sorted(s.value for s in token.scopes))
            raise AccessDenied(403, f"token '{token.name}' lacks the '{self.scope.value}' scope (it has {have})")
        else:
            caller = Caller(token.name, token.namespaces, guard.owners, note)
            if caller.limited and request.path_params:
                caller.require(*await run_in_threadpool(guard.namespaces_in_path, dict(request.path_params)))
        request.scope[CALLER_KEY] = caller
        return caller


class TokenBeforeBody:
    """ASGI middleware: on a server that requires tokens, a request that sends a body without a valid token is
    refused (401, and audited like every refusal) before anything reads the body, so no caller without a token
    makes the server read or parse one (every route that takes a body declares a scope that needs a token)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _sends_body(scope):
            guard: Guard = scope["app"].state.guard
            header = _header(scope, b"authorization")
            if guard.required and (header is None or guard.identify(header) is None):
                note: AuditNote | None = scope.get(AUDIT_KEY)
                if note is not None:
                    route, params = _route_of(scope)
                    note.fill(scope["method"], scope["path"], route, params,
                              "anonymous" if header is None else "invalid-token")
                answer = error(401, "a valid bearer token is required")
                answer.headers["WWW-Authenticate"] = "Bearer"
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _sends_body(scope: Any) -> bool:
    if scope["method"] in ("GET", "HEAD", "OPTIONS"):
        return False
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (length is not None and length.strip() not in ("", "0"))


def _route_of(scope: Any) -> tuple[Any, dict[str, Any]]:
    """The route the request would reach and its path parameters (for the audit row of its refusal; None when
    none matches: the row then names the path)."""
    routed_scope = routed(scope)
    for route in _leaves(scope["app"].router.routes):
        match, child = route.matches(routed_scope)
        if match is Match.FULL:
            return route, dict(child.get("path_params") or {})
    return None, {}


def _leaves(routes: Sequence[Any]) -> Iterator[Any]:
    """The routes of the app, those of included routers too (which FastAPI keeps whole, matched lazily)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _leaves(inner.routes) if inner is not None else (route,)


READ = Need(Scope.READ)
LINEAGE = Need(Scope.READ, anonymous=True)  # the Marquez read API (and its event log)
INGEST = Need(Scope.INGEST)
CACHE = Need(Scope.CACHE)
ADMIN = Need(Scope.ADMIN)
SCOPE_DEPENDENCIES = (READ, LINEAGE, INGEST, CACHE, ADMIN)

IngestCaller = Annotated[Caller, Depends(INGEST)]
CacheCaller = Annotated[Caller, Depends(CACHE)]
AdminCaller = Annotated[Caller, Depends(ADMIN)]


async def every_namespace(request: Request) -> None:
    """Declared after the scope on routes that answer across namespaces (lists, search, the graph, the event
    log, gc, the audit trail): a namespace-limited token is refused there (403)."""
    caller: Caller | None = request.scope.get(CALLER_KEY)
    if caller is None:
        raise LineageError(f"{request.url.path}: every_namespace is declared before the route's scope")
    if caller.limited:
        raise AccessDenied(403, f"token '{caller.name}' is limited to namespaces {', '.join(caller.namespaces)}: "
                                "this route answers across namespaces")


def not_audited(request: Request) -> None:
    """Declared on a write route that changes no stored data (a lease heartbeat, a lookup sent as POST): the
    audit trail records only its refusals and failures."""
    note: AuditNote | None = request.scope.get(AUDIT_KEY)
    if note is not None:
        note.skip = True
