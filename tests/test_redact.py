"""lineage_core.redact: a secret value never reaches the store, a log line or an event."""

from __future__ import annotations

import re._parser

import pytest

from lineage_core import redact
from lineage_core.redact import REDACTED, looks_secret, redact_text, redact_url, redact_value


@pytest.mark.parametrize("name", [
    "API_KEY", "OPENAI_API_KEY", "db_password", "DB_PASSWD", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS", "AUTH_HEADER", "ssh_private_key", "SESSION_ID", "cookie", "MYSQL_PWD",
])
def test_secret_looking_names(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "LANG", "TZ", "n_samples", "learning_rate", "CUDA_VISIBLE_DEVICES",
                                  "keywords", "Cache_Key", "SORT_KEY", "--author"])
def test_ordinary_names(name: str) -> None:
    assert not looks_secret(name)


@pytest.mark.parametrize("name", ["Passphrase", "--api-key", "'x_Token'", "my_Auth", "Private", "Creds", "sessionid",
                                  "KEYWORDS_FILE", "AUTHORS_TOKEN", "passwort", "pa\u00dfword", "API_\u212aEY"])
def test_secret_words_in_any_case(name: str) -> None:
    """The words match in any case, folded as re.IGNORECASE would (\u212a is the Kelvin sign, folded to k; \u00df folds
    to ss); only an exact exception name, in any case, is not a secret."""
    assert looks_secret(name)


@pytest.mark.parametrize(("text", "expected"), [
    ("postgresql+psycopg://lineage:hunter2@db:5432/lineage", "postgresql+psycopg://lineage:***@db:5432/lineage"),
    ("could not reach https://u:p%40ss@h/x or s3://k:v@b/p", "could not reach https://u:***@h/x or s3://k:***@b/p"),
    ("sqlite:////tmp/lineage.db", "sqlite:////tmp/lineage.db"),
    ("no url here: just words", "no url here: just words"),
])
def test_redact_url_hides_the_password_and_keeps_the_user_and_host(text: str, expected: str) -> None:
    assert redact_url(text) == expected


@pytest.mark.parametrize(("text", "secret", "kept"), [
    ("redis://:s3cr3t@cache:6379/0", "s3cr3t", "@cache:6379/0"),  # no user name, only a password
    ("https://admin:pa/ss@host/path", "pa/ss", "@host/path"),
])
def test_redact_url_never_shows_a_password(text: str, secret: str, kept: str) -> None:
    out = redact_url(text)
    assert secret not in out and out.endswith(kept) and REDACTED in out


def test_redact_value_hides_a_secret_name_and_any_url_password() -> None:
    assert redact_value("API_TOKEN", "not-a-url-but-secret") == REDACTED
    assert redact_value("DATABASE_URL", "postgresql://app:pw@db/app") == "postgresql://app:***@db/app"
    assert redact_value("LANG", "C.UTF-8") == "C.UTF-8"


def test_the_shortcuts_skip_only_text_no_pattern_can_match() -> None:
    """redact_text skips the by-value patterns for text shorter than any of their matches, or without ':'/'=';
    the bound is checked against the patterns themselves, so a new, shorter key shape fails here."""
    for pattern in (redact._PREFIXED, redact._BEARER):
        assert re._parser.parse(pattern).getwidth()[0] >= redact._SHORTEST_SHAPED
    assert all(c in redact._ASSIGNED for c in ":=")
    shortest = "Basic " + "A" * 8
    assert len(shortest) == redact._SHORTEST_SHAPED and redact_text(shortest) == f"Basic {REDACTED}"
    assert redact_text("pwd=x") == f"pwd={REDACTED}" and redact_text("C.UTF-8") == "C.UTF-8"


def test_redact_values_is_redact_value_of_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment's secret values are read once for the whole mapping; the result is item by item what
    redact_value gives (a secret name hides all; a known secret's value is hidden wherever it is quoted)."""
    monkeypatch.setenv("SERVICE_TOKEN", "tok-3f9a8b7c6d")
    named = {"DB_PASSWORD": "hunter22", "NOTE": "uses tok-3f9a8b7c6d here", "URL": "https://u:pw@h/x", "LANG": "C"}
    out = redact.redact_values(named)
    assert out == {k: redact_value(k, v) for k, v in named.items()}
    assert out["DB_PASSWORD"] == REDACTED and "tok-3f9a8b7c6d" not in out["NOTE"] and "pw@" not in out["URL"]
    assert out["LANG"] == "C"
