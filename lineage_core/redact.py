"""Secret redaction — the one redactor: a secret value must never reach the store, a log line or an event.

Everything that leaves a process as text goes through here: argument displays (nested values too),
exception messages, command lines, URLs and recorded environment variables. A secret is recognised

- **by name**: a parameter, variable, flag or key that says it holds one (``api_key``, ``DB_PASSWORD``,
  ``--token``, ``{"passphrase": …}``, ``creds``);
- **by value**: what secrets look like (provider key prefixes such as ``sk-``, ``ghp_``, ``xoxb-``, ``AKIA``,
  JWTs, ``Bearer …``, URL userinfo, ``password=…`` in a DSN) and the values of this process's own
  secret-named environment variables, wherever they appear.

A URL keeps its user name when it has a password (``postgresql://app:***@db``); a URL whose userinfo is a
single token (``https://TOKEN@host``) loses all of it.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

REDACTED = "***"
# A name holding any of these words, in any case (compared case-folded), names a secret, unless it is an exception.
_SECRET_WORDS = ("key", "token", "secret", "passw", "passphrase", "pwd", "credential", "creds", "auth", "private",
                 "session", "cookie")
_NOT_SECRET_NAMES = frozenset({"keyword", "keywords", "cache_key", "sort_key", "key_schema", "author", "authors"})
# By value and by flag: compiled at the first text that could hold what they match (~1 ms of a cold import; a
# process's captured variables such as LANG=C.UTF-8 or OMP_NUM_THREADS=4 never need them).
_PREFIXED = (
    r"\b(?:sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35}|glpat-[A-Za-z0-9_\-]{20}"
    r"|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_\-]{50,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})")
_BEARER = r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=\-]{8,}"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*://"
# name=value / name: value / "name": "value" where the name says secret (DSNs, headers, JSON, logs)
_ASSIGNED = (
    r"""(?P<name>["']?[A-Za-z_][A-Za-z0-9_.\-]*["']?)(?P<sep>\s*[:=]\s*)(?P<q>["'])?(?P<value>(?(q)[^"']*|[^\s,;&'"}\]]+))""")
_SHORTEST_SHAPED = 14  # no _PREFIXED or _BEARER match is shorter (tests/test_redact.py checks it against the patterns)
_FLAG = (r"^--?(?:[A-Za-z0-9]+[-_])*(?:password|passwd|pwd|pass|passphrase|token|api[-_]?key|key|"
         r"secret|credentials?|auth|access[-_]key|private[-_]key|client[-_]secret)$")


class _Patterns:
    """The patterns above, compiled (a plain class: a NamedTuple's would be generated at every import)."""

    def __init__(self) -> None:
        self.prefixed = re.compile(_PREFIXED)
        self.bearer = re.compile(_BEARER, re.I)
        self.scheme = re.compile(_SCHEME)
        self.assigned = re.compile(_ASSIGNED)
        self.secret_flag = re.compile(_FLAG, re.I)


@functools.cache
def _patterns() -> _Patterns:
    return _Patterns()


_SHORT_SECRET_FLAGS = frozenset({"-p", "-P", "-k", "-t"})
_MIN_KNOWN = 6  # shorter env values would redact ordinary words


def looks_secret(name: str) -> bool:
    """True when a variable, parameter, flag or key name suggests a secret (API_KEY, db_password, creds...)."""
    bare = name.strip("\"'-").strip().casefold()
    return any(w in bare for w in _SECRET_WORDS) and bare not in _NOT_SECRET_NAMES


def _known_secrets() -> list[str]:
    """This process's secret-named environment values: redacted by value wherever they are quoted."""
    values = {v for k, v in os.environ.items() if looks_secret(k) and len(v) >= _MIN_KNOWN}
    return sorted(values, key=len, reverse=True)


def redact_url(text: str) -> str:
    """Hide the userinfo of every URL in ``text`` (the password; all of it when it is a lone token).
    Parsed by the last ``@`` of the authority, so passwords with ``/``, ``@`` or spaces are covered."""
    if "://" not in text:  # what every scheme match ends with
        return text
    out: list[str] = []
    pos = 0
    for m in _patterns().scheme.finditer(text):
        if m.start() < pos:
            continue
        start = m.end()
        end = _authority_end(text, start)
        at = text.rfind("@", start, end)
        if at < 0:
            continue
        userinfo = text[start:at]
        user, colon, _pw = userinfo.partition(":")
        masked = f"{user}:{REDACTED}" if colon and user and " " not in user else REDACTED
        out.append(text[pos:start] + masked)
        pos = at
    out.append(text[pos:])
    return "".join(out)


def _authority_end(text: str, start: int) -> int:
    """Where a URL's authority ends: at the host's first ``/``, ``?``, ``#`` or whitespace after the last
    ``@`` that still precedes one (a password may itself hold ``/`` and spaces)."""
    stop = len(text)
    nxt = _patterns().scheme.search(text, start)
    if nxt:
        stop = nxt.start()
    line_end = text.find("\n", start)
    if line_end >= 0:
        stop = min(stop, line_end)
    at = text.rfind("@", start, stop)
    if at < 0:
        m = re.search(r"[/?#\s]", text[start:stop])
        return start + m.start() if m else stop
    m = re.search(r"[/?#\s]", text[at:stop])
    return at + m.start() if m else stop


def redact_text(text: str) -> str:
    """Free text (an exception message, a log line, a command line) with every secret it holds replaced."""
    return _redact_text(text, _known_secrets())


def _redact_text(text: str, known_secrets: list[str]) -> str:
    """:func:`redact_text` with the environment's secret values already read (once per value redacted, not per
    string in it: reading them walks the whole environment)."""
    if not text:
        return text
    for known in known_secrets:
        if known in text:
            text = text.replace(known, REDACTED)
    text = redact_url(text)
    if len(text) >= _SHORTEST_SHAPED:
        patterns = _patterns()
        text = patterns.prefixed.sub(REDACTED, text)
        text = patterns.bearer.sub(lambda m: f"{m[1]} {REDACTED}", text)
    if ":" not in text and "=" not in text:  # every assignment has one
        return text

    def assigned(m: re.Match[str]) -> str:
        if not looks_secret(m["name"]) or not m["value"] or m["value"] == REDACTED:
            return m[0]
        return f"{m['name']}{m['sep']}{m['q'] or ''}{REDACTED}"
    return _patterns().assigned.sub(assigned, text)


def redact_value(name: str, value: str) -> str:
    """A named value (an env var, a parameter): all of it when the name says secret, else its secrets."""
    return REDACTED if looks_secret(name) else redact_text(value)


def redact_values(named: Mapping[str, str]) -> dict[str, str]:
    """:func:`redact_value` of each item (a set of environment variables)."""
    known = _known_secrets()
    return {k: REDACTED if looks_secret(k) else _redact_text(v, known) for k, v in named.items()}


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line: the value after ``--password``/``--token``/``--api-key``/``-p``…, ``--flag=value`` with
    such a flag, ``KEY=value`` with a secret name, and anything that looks like a secret on its own."""
    out: list[str] = []
    hide_next = False
    secret_flag = _patterns().secret_flag
    known = _known_secrets()
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        flag, eq, _value = arg.partition("=")
        if eq and flag.startswith("-") and (secret_flag.match(flag) or looks_secret(flag)):
            out.append(f"{flag}={REDACTED}")
        elif not eq and arg.startswith("-") and (secret_flag.match(arg) or arg in _SHORT_SECRET_FLAGS):
            out.append(arg)
            hide_next = True
        else:
            out.append(_redact_text(arg, known))
    return out


def redact_data(value: Any, depth: int = 0) -> Any:
    """A copy of a nested value (dicts, lists, tuples, strings) with secret-named keys and secret-looking
    strings redacted; anything else as it is."""
    return _redact_data(value, depth, _known_secrets())


def _redact_data(value: Any, depth: int, known: list[str]) -> Any:
    if depth > 20:
        return REDACTED
    if isinstance(value, str):
        return _redact_text(value, known)
    if isinstance(value, Mapping):
        return {k: REDACTED if isinstance(k, str) and looks_secret(k) else _redact_data(v, depth + 1, known)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_redact_data(v, depth + 1, known) for v in value]
        return type(value)(items) if isinstance(value, tuple) and not hasattr(value, "_fields") else items
    return value
