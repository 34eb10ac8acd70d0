"""The route grammar: parsing with exact error positions, evaluation, the router, and fuzzing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesim.message import Message
from edgesim.routing import ModuleInputSink, Router, RouteSyntaxError, UpstreamSink, parse_route


def output(
    module: str, name: str, body: object = None, properties: dict[str, str] | None = None, json_body: bool = True
) -> Message:
    system = {"connectionDeviceId": "dev", "connectionModuleId": module, "outputName": name}
    if json_body:
        system.update(contentType="application/json", contentEncoding="utf-8")
    raw = json.dumps(body).encode() if body is not None else b""
    return Message(raw, properties or {}, system)


@pytest.mark.parametrize(
    ("text", "sink"),
    [
        ('FROM /messages/modules/a/outputs/o INTO BrokeredEndpoint("/modules/b/inputs/i")', ModuleInputSink("b", "i")),
        ("select * from /messages/* into $upstream", UpstreamSink()),
        ("FROM /messages/modules/a/* INTO $UPSTREAM", UpstreamSink()),
        ("FROM /messages/modules/a/outputs/* INTO BrokeredEndpoint('/modules/b/inputs/i')", ModuleInputSink("b", "i")),
        ("  FROM   /twinChangeNotifications   INTO $upstream  ", UpstreamSink()),
    ],
)
def test_valid_routes(text: str, sink: object) -> None:
    assert parse_route(text, "r").sink == sink


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("FROM /messages/* INTO", "expected $upstream or BrokeredEndpoint", 22),
        ("FROM nowhere INTO $upstream", "expected a source", 6),
        ("/messages/* INTO $upstream", "expected FROM", 1),
        ("FROM /messages/* WHERE a = INTO $upstream", "expected a value, found 'INTO'", 28),
        ("FROM /messages/* WHERE a = 'x INTO $upstream", "unterminated string", 28),
        # (a = 1) = 2 compares a bool with a number: edgeHub refuses it at the second '='
        ("FROM /messages/* WHERE 1 = 1 = 2 INTO $upstream", "have 'bool' and 'number'", 30),
        ("FROM /messages/* WHERE NOPE(a) INTO $upstream", "Invalid built-in function 'NOPE'", 24),
        (
            "FROM /messages/* WHERE STARTS_WITH(a) INTO $upstream",
            "Invalid arguments to built-in function 'STARTS_WITH': STARTS_WITH(string)",
            24,
        ),
        (
            "FROM /messages/* WHERE temperature > 50 INTO $upstream",
            "Invalid operands to binary operator '>': have 'string' and 'number'",
            36,
        ),
        ('FROM /messages/* INTO BrokeredEndpoint("/modules/b/inputs")', "is not /modules/<module>/inputs/", 40),
        ("FROM /messages/* WHERE a # 1 INTO $upstream", "expected INTO, found '#'", 26),  # '#' is a name character
        ("FROM /messages/* WHERE a = (1 INTO $upstream", "missing closing ')'", 28),
    ],
)
def test_syntax_errors_have_exact_columns(text: str, message: str, column: int) -> None:
    with pytest.raises(RouteSyntaxError) as caught:
        parse_route(text, "r1")
    assert message in str(caught.value)
    assert caught.value.position == column - 1
    assert str(caught.value).startswith("route 'r1': ")
    assert str(caught.value).endswith(f"at column {column}")


def test_what_edgehub_accepts_beyond_the_known_sources() -> None:
    # edgeHub's grammar takes any /-separated path as a source (it matches nothing) and ignores text after
    # the sink; the validator warns about both.
    assert parse_route("FROM /nowhere INTO $upstream").source.kind == "other"
    assert parse_route("FROM /messages/* INTO $upstream extra").trailing == 32
    assert parse_route('FROM /* INTO BrokeredEndpoint("/a/b/c/d")').sink == ModuleInputSink("b", "d")


def test_long_operator_chains_are_refused_not_a_recursion_error() -> None:
    with pytest.raises(RouteSyntaxError, match="levels of operators"):
        parse_route("FROM /messages/* WHERE " + " AND ".join(["true"] * 2000) + " INTO $upstream")
    assert parse_route("FROM /messages/* WHERE " + " AND ".join(["true"] * 200) + " INTO $upstream")


def test_deep_nesting_is_a_syntax_error() -> None:
    text = "FROM /messages/* WHERE " + "(" * 5000 + "a" + ")" * 5000 + " INTO $upstream"
    with pytest.raises(RouteSyntaxError, match="nested more than 64"):
        parse_route(text)
    with pytest.raises(RouteSyntaxError, match="nested more than 64"):
        parse_route("FROM /messages/* WHERE " + "NOT " * 5000 + "a INTO $upstream")


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("$body.score > 0.5", True),
        ("$body.score > 0.95", False),
        ("$body.nested.list[1] = 'b'", True),
        ("$body.missing = 1", False),
        # edgeHub: a $body path that selects nothing is null (BodyQueryTest), and null = 1 is false
        ("NOT ($body.missing = 1)", True),
        ("IS_DEFINED($body.missing)", True),
        ("IS_DEFINED($body.nested)", False),  # objects and arrays are undefined
        ("IS_DEFINED($body.score) AND $body.label = 'POSITIVE'", True),
        ("$body.missing = 1 OR $body.score > 0", True),
        ("level = 'high'", True),
        ("as_number(temperature) > 50", True),  # properties are strings: edgeHub refuses `temperature > 50`
        ("as_number(temperature) > 70", False),
        ("TEMPERATURE = '60' AND {$connectionModuleId} = 'sensor'", True),  # names ignore case
        ("$connectionModuleId = 'sensor'", True),
        ("$outputName = 'out1' AND $contentType = 'application/json'", True),
        ("STARTS_WITH(level, 'hi') AND ENDS_WITH(level, 'gh') AND CONTAINS(level, 'ig')", True),
        ("LENGTH(level) = 4 AND UPPER(level) = 'HIGH' AND LOWER('X') = 'x'", True),
        ("SUBSTRING(level, 1, 2) = 'ig' AND INDEX_OF(level, 'g') = 2", True),
        ("CONCAT(level, '-', 'x') = 'high-x'", True),
        ("ABS(-2) = 2 AND FLOOR(2.7) = 2 AND CEILING(2.1) = 3 AND POWER(2, 3) = 8 AND SQUARE(3) = 9", True),
        ("$body.score * 10 >= 9 AND 7 % 4 = 3 AND 0 - $body.score < 0", True),
        ("1 + 2 * 3 = 7", True),
        ("(1 + 2) * 3 = 9", True),
        ("$body.score / 0 > 1", True),  # 0.9 / 0 is +Infinity, as in C#
        ("$body.flag = true AND $body.none = null", True),
        ("$body.label > 1", True),  # $body values of different types compare by type: string > number
    ],
)
def test_condition_evaluation(condition: str, expected: bool) -> None:
    route = parse_route(f"FROM /messages/* WHERE {condition} INTO $upstream")
    message = output(
        "sensor",
        "out1",
        {"score": 0.9, "label": "POSITIVE", "flag": True, "none": None, "nested": {"list": ["a", "b"]}},
        {"level": "high", "temperature": "60"},
    )
    assert route.matches(message) is expected


def test_body_needs_json_content_type() -> None:
    route = parse_route("FROM /messages/* WHERE $body.score > 0.5 INTO $upstream")
    assert route.matches(output("m", "o", {"score": 0.9}))
    assert not route.matches(output("m", "o", {"score": 0.9}, json_body=False))
    broken = Message(
        b"{not json",
        {},
        {"connectionModuleId": "m", "outputName": "o", "contentType": "application/json", "contentEncoding": "utf-8"},
    )
    assert not route.matches(broken)


@pytest.mark.parametrize(
    ("source", "module", "out", "expected"),
    [
        ("/messages/*", "a", "o", True),
        ("/messages/modules/a/*", "a", "o", True),
        ("/messages/modules/a/*", "ab", "o", False),  # a prefix must end at a path segment
        ("/messages/modules/A/outputs/*", "a", "x", True),  # case-insensitive
        ("/messages/modules/a/outputs/o", "a", "o", True),
        ("/messages/modules/a/outputs/o", "a", "o2", False),
        ("/twinChangeNotifications", "a", "o", False),
    ],
)
def test_source_matching(source: str, module: str, out: str, expected: bool) -> None:
    assert parse_route(f"FROM {source} INTO $upstream").matches(output(module, out)) is expected


def test_router_priorities_and_ttl() -> None:
    router = Router.from_manifest(
        {
            "low": {"route": "FROM /messages/* INTO $upstream", "priority": 5, "timeToLiveSecs": 30},
            "high": {"route": 'FROM /messages/modules/a/* INTO BrokeredEndpoint("/modules/b/inputs/i")', "priority": 0},
            "other": "FROM /messages/modules/z/* INTO $upstream",
        }
    )
    matches = router.match(output("a", "o"))
    assert [(m.route.name, m.priority, m.ttl_secs) for m in matches] == [("high", 0, None), ("low", 5, 30)]


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ({"r": {"route": "FROM /messages/* INTO $upstream", "priority": 10}}, "priority must be an integer 0-9"),
        ({"r": {"route": "FROM /messages/* INTO $upstream", "timeToLiveSecs": -1}}, "timeToLiveSecs"),
        ({"r": {"priority": 1}}, "no 'route' string"),
        ({"r": 5}, "must be a string or an object"),
        ({"bad": "FROM /messages/* INTO nowhere"}, "route 'bad'"),
    ],
)
def test_router_errors_name_the_route(routes: dict[str, object], message: str) -> None:
    with pytest.raises(RouteSyntaxError, match=message):
        Router.from_manifest(routes)


ROUTE_PIECES = st.sampled_from(
    [
        "FROM",
        "/messages/*",
        "/messages/modules/a/outputs/o",
        "WHERE",
        "INTO",
        "$upstream",
        "AND",
        "OR",
        "NOT",
        "(",
        ")",
        "=",
        "<>",
        ">",
        "'x'",
        '"y"',
        "1",
        "2.5",
        "-",
        "*",
        "$body.a",
        "$body.a[0]",
        "prop",
        "IS_DEFINED(",
        "CONCAT(",
        ",",
        'BrokeredEndpoint("/modules/b/inputs/i")',
        "SELECT",
        "null",
        "true",
        "[",
        "]",
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(max_size=120), st.lists(ROUTE_PIECES, max_size=25).map(" ".join)))
def test_fuzz_only_route_syntax_errors(text: str) -> None:
    error: RouteSyntaxError | None = None
    try:
        route = parse_route(text, "fuzz")
    except RouteSyntaxError as exc:
        error = exc
    if error is not None:
        assert 0 <= error.position <= len(text)
        assert "\n" not in str(error)
        return
    assert route.matches(output("a", "o", {"a": [1]}, {"prop": "x"})) in (True, False)


CONDITIONS = st.recursive(
    st.sampled_from(["$body.a", "prop", "1", "'s'", "true", "null", "$connectionModuleId"]),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["=", "<>", "<", ">=", "AND", "OR", "+", "*"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda c: f"(NOT {c})"),
        inner.map(lambda c: f"IS_DEFINED({c})"),
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(CONDITIONS)
def test_generated_conditions_parse_and_evaluate(condition: str) -> None:
    # edgeHub type-checks conditions, so many generated ones are refused; the refusal must be a RouteSyntaxError
    text = f"FROM /messages/* WHERE {condition} INTO $upstream"
    try:
        route = parse_route(text)
    except RouteSyntaxError as exc:
        refused: RouteSyntaxError | None = exc
    else:
        refused = None
    if refused is not None:
        assert 0 <= refused.position <= len(text)
        return
    assert route.matches(output("a", "o", {"a": 1}, {"prop": "1"})) in (True, False)
