"""lineage_core.keys: the key is a stable function of its components, and a miss explains itself by diffing
manifests. Written against the public surface (KeyManifest.build / key / to_dict / from_dict,
explain_difference, nearest), not against how components are listed."""

from __future__ import annotations

from typing import Any

import pytest

from lineage_core.hashing import hash_bytes, hash_value
from lineage_core.keys import KeyManifest, explain_difference, nearest

BASE: dict[str, Any] = {
    "scope": "default",
    "step": "pipe.prepare",
    "code": {"prepare() in pipe.py": hash_bytes(b"def prepare"), "clean() in pipe.py": hash_bytes(b"def clean")},
    "params": {"n": hash_value(3), "mode": hash_value("fast")},
    "inputs": {"path": hash_bytes(b"a,b\n1,2\n")},
    "outputs": "bytes@1,json@1,numpy@1",
    "env": {"policy": "imports", "python": "3.11", "packages": {"numpy": "2.1.0"}},
}


def manifest(display: dict[str, str] | None = None, code_entry: str = "prepare() in pipe.py",
             **changes: Any) -> KeyManifest:
    return KeyManifest.build(display={"n": "3", "mode": "'fast'", **(display or {})}, code_entry=code_entry,
                             **{**BASE, **changes})


def test_the_key_is_a_stable_function_of_the_components() -> None:
    key = manifest().key()
    assert key.startswith("blake3:") and len(key) == len("blake3:") + 64
    assert manifest().key() == key
    assert KeyManifest.from_dict(manifest().to_dict()).key() == key  # as stored, as read back
    reordered = manifest(params=dict(reversed(BASE["params"].items())))
    assert reordered.key() == key  # mapping order never counts


@pytest.mark.parametrize(("component", "value"), [
    ("scope", "team-b"),
    ("step", "pipe.prepare_v2"),
    ("code", {**BASE["code"], "clean() in pipe.py": hash_bytes(b"def clean2")}),
    ("params", {**BASE["params"], "n": hash_value(4)}),
    ("params", {"n": hash_value(3)}),
    ("inputs", {"path": hash_bytes(b"a,b\n1,3\n")}),
    ("outputs", "bytes@1,json@1,numpy@2"),
    ("env", {**BASE["env"], "packages": {"numpy": "2.2.0"}}),
    ("salt", "2"),
])
def test_every_component_changes_the_key(component: str, value: Any) -> None:
    assert manifest(**{component: value}).key() != manifest().key()


def test_display_text_and_the_code_entry_never_change_the_key() -> None:
    assert manifest(display={"n": "three"}, code_entry="").key() == manifest().key()


def test_a_changed_parameter_is_named_with_its_old_and_new_values() -> None:
    new = manifest(params={**BASE["params"], "n": hash_value(4)}, display={"n": "4"})
    assert explain_difference(manifest(), new) == ["parameter 'n' changed: 3 → 4"]


def test_added_and_removed_parameters_and_inputs_are_named() -> None:
    new = manifest(params={"n": hash_value(3), "seed": hash_value(0)}, inputs={"path": hash_bytes(b"other")})
    reasons = explain_difference(manifest(), new)
    assert any("'seed'" in r and "added" in r for r in reasons)
    assert any("'mode'" in r and "removed" in r for r in reasons)
    assert any("'path'" in r and "changed" in r for r in reasons)


def test_a_code_change_names_the_helper() -> None:
    new = manifest(code={**BASE["code"], "clean() in pipe.py": hash_bytes(b"def clean2")})
    (reason,) = explain_difference(manifest(), new)
    assert reason.startswith("code changed: prepare()") and "clean() in pipe.py" in reason


def test_the_same_manifest_says_the_entry_was_invalidated() -> None:
    (reason,) = explain_difference(manifest(), manifest())
    assert "same key" in reason


def test_an_older_schema_explains_itself_as_an_upgrade() -> None:
    old = {**manifest().to_dict(), "schema": 1}
    assert any("key schema 1 →" in r for r in explain_difference(KeyManifest.from_dict(old), manifest()))


def test_nearest_is_the_fewest_differences_newest_first() -> None:
    params = {**BASE["params"], "n": hash_value(5)}
    new = manifest(params=params)
    one_off = manifest(params={**BASE["params"], "n": hash_value(4)}).to_dict()
    two_off = manifest(params={**BASE["params"], "n": hash_value(4)}, scope="other").to_dict()
    same_distance = manifest(params=params, salt="x").to_dict()  # also one component off, but older
    chosen = nearest([two_off, one_off, same_distance], new)
    assert chosen is not None and chosen.key() == KeyManifest.from_dict(one_off).key()
    assert nearest([], new) is None


ODD = ["", "plain", 'quo"te', "back\\slash", "tab\there", "nul\x00", "é-ünïcode", "emoji 🎉", "\u2028", "~!#[]{}"]


def test_flat_json_is_the_canonical_json_whatever_the_strings() -> None:
    """keys.flat_json writes a dict of plain strings itself; anything else (escapes, non-ASCII, non-strings) must
    come out exactly as the canonical encoder writes it, since it is spliced into key text."""
    from lineage_core.keys import canonical, flat_json

    dicts: list[dict[str, Any]] = [{}, {"b": "2", "a": "1"}, {"x": 1}, {"x": None}, {"x": [1, "a"]}, {"x": {"y": "z"}}]
    dicts += [{k: v} for k in ODD for v in ODD] + [{f"k{i}": v for i, v in enumerate(ODD)}]
    for d in dicts:
        assert flat_json(d) == canonical(d), d


def test_a_plain_string_is_one_json_writes_as_it_is() -> None:
    """keys._plain (string tests in place of a pattern) holds for exactly the ASCII characters json writes
    unescaped, and for no other character."""
    import json

    from lineage_core.keys import _plain

    for c in range(0x3000):
        ch = chr(c)
        assert _plain(ch) == (ch.isascii() and json.dumps(ch) == f'"{ch}"'), hex(c)
    assert _plain("") and _plain("blake3:ab12 x=1") and not _plain("a\tb") and not _plain("é")


@pytest.mark.parametrize("slots", [("params", "inputs"), ("code", "params", "inputs")])
def test_key_text_splices_the_calls_components_into_exactly_the_canonical_text(slots: tuple[str, ...]) -> None:
    """KeyText: the fixed components encoded once and the call's own spliced in give canonical(material) (so the
    key is KeyManifest.build's); a manifest of other component names or schema is keyed the general way."""
    from dataclasses import replace

    from lineage_core.keys import KeyText, canonical

    base = manifest()
    text = KeyText(base.key_material(), slots)
    assert "env" in text and not set(slots) & set(text)
    for n in ODD:
        m = replace(manifest(params={n: hash_value(n), "n": n}, inputs={n: n} if n else {}), encoded=text)
        assert text.text(m.key_material()) == canonical(m.key_material())
        assert m.key() == replace(m, encoded=None).key()
    other = replace(manifest(salt="2"), encoded=text)  # a component the text was not built with
    assert text.text(other.key_material()) is None and other.key() == replace(other, encoded=None).key()
    older = replace(base, schema=1, encoded=text)
    assert text.text(older.key_material()) is None and older.key() == replace(older, encoded=None).key()
