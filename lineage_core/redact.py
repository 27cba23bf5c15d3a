"""Secret redaction: a secret value must never reach the store, a log line or an event."""

from __future__ import annotations

import re

REDACTED = "***"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|PWD|CREDENTIAL|AUTH|PRIVATE|SESSION|COOKIE", re.I)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


def looks_secret(name: str) -> bool:
    """True when a variable or parameter name suggests a secret (API_KEY, db_password, ...)."""
    return bool(_SECRET_NAME.search(name))


def redact_url(text: str) -> str:
    """Hide the password in any ``scheme://user:password@host`` inside ``text``."""
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)


def redact_value(name: str, value: str) -> str:
    return REDACTED if looks_secret(name) else redact_url(value)
