"""Bearer-token auth for writes: off when the server is bound to loopback, required otherwise.

Tokens come from ``LINEAGE_SERVER_TOKENS`` (comma-separated) or the file named by
``LINEAGE_SERVER_TOKEN_FILE`` (one per line, e.g. a mounted Kubernetes secret). They are never logged.
"""

from __future__ import annotations

import hmac
import ipaddress

from ..errors import ConfigError
from ..settings import Settings


def load_tokens(settings: Settings | None = None) -> list[str]:
    s = settings or Settings.current()
    tokens = list(s.server_tokens)
    path = s.server_token_file
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                tokens += [line.strip() for line in f if line.strip()]
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


def authorized(header: str | None, tokens: list[str]) -> bool:
    if not header or not header.startswith("Bearer "):
        return False
    given = header[len("Bearer ") :].strip()
    # bytes: compare_digest raises TypeError on str with non-ASCII characters (a hostile header is a 401)
    return any(hmac.compare_digest(given.encode(), t.encode()) for t in tokens)
