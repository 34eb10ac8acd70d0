"""The position-tracking parser agrees with json.loads, and its positions point at the values."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeship.manifest import ManifestSyntaxError, parse_json
from edgeship.manifest.problems import JsonPath

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
layouts = st.sampled_from(
    [
        {},
        {"indent": 2},
        {"indent": "\t"},
        {"separators": (",", ":")},
        {"indent": 1, "ensure_ascii": False},
        {"ensure_ascii": False},
    ]
)


def _at(value: Any, path: JsonPath) -> Any:
    for part in path:
        value = value[part]
    return value


@settings(max_examples=300, deadline=None)
@given(values, layouts)
def test_agrees_with_json_loads_and_positions_point_at_values(value: Any, layout: dict[str, Any]) -> None:
    text = json.dumps(value, **layout)
    document = parse_json(text, "t.json")
    assert document.value == json.loads(text)
    decoder = json.JSONDecoder()
    lines = text.split("\n")
    for path, offset in document.values.items():
        assert decoder.raw_decode(text, offset)[0] == _at(document.value, path)
        position = document.position_of_offset(offset)
        line_start = sum(len(line) + 1 for line in lines[: position.line - 1])
        assert line_start + position.column - 1 == offset
    for path, offset in document.keys.items():
        assert decoder.raw_decode(text, offset)[0] == path[-1]


json_alphabet = st.sampled_from(list('{}[]",:0123456789-+.eE \n\tatrufalsnNIy\\/ubx'))


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(json_alphabet, max_size=30),
        st.text(max_size=20),
        values.map(json.dumps).flatmap(lambda t: st.integers(0, len(t)).map(lambda i: t[:i] + t[i + 1 :])),
    )
)
def test_accepts_exactly_what_json_loads_accepts(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ManifestSyntaxError):
            parse_json(text, "t.json")
        return
    got = parse_json(text, "t.json").value
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_nan_infinity_and_duplicates_like_json_loads() -> None:
    document = parse_json('{"a": NaN, "b": -Infinity, "a": 1, "s": "\\ud83d\\ude00\\ud800"}', "t.json")
    value: Any = document.value
    assert value["a"] == 1
    assert math.isinf(value["b"])
    assert value["s"] == json.loads('"\\ud83d\\ude00\\ud800"')
    assert [path for path, _ in document.duplicates] == [("a",)]


def test_syntax_errors_have_line_and_column() -> None:
    with pytest.raises(ManifestSyntaxError) as caught:
        parse_json('{\n  "a": 1,\n  "b": tru\n}', "x.json")
    assert (caught.value.position.line, caught.value.position.column) == (3, 8)
    assert str(caught.value).startswith("x.json:3:8: invalid JSON")


def test_string_offset_counts_escapes() -> None:
    text = '{"r": "FROM \\"x\\" INTO $upstream"}'
    document = parse_json(text, "t.json")
    value: Any = document.value
    position = document.string_offset(("r",), value["r"].index("INTO"))
    assert text[position.column - 1 : position.column + 3] == "INTO"


def test_deep_nesting_is_a_clean_error() -> None:
    assert parse_json("[" * 200 + "]" * 200, "t.json").value is not None
    with pytest.raises(ManifestSyntaxError, match="nesting deeper than 200 levels"):
        parse_json("[" * 5000 + "]" * 5000, "t.json")
