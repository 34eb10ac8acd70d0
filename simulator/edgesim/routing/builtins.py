"""edgeHub's built-in functions (Routing.Core/query/builtins), with their overloads.

A builtin has executors tried in order; the first whose argument types match the static types of the
call wins, and no match is a compile error. An executor that "supports query values" also accepts a
``$body`` value for any argument and receives every argument as a QueryValue.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgesim.routing.values import (
    QV_UNDEFINED,
    UNDEFINED,
    QueryValue,
    StaticType,
    TriBool,
    Value,
    parse_dotnet_number,
)

SUPPORTED_BY_QUERY: frozenset[StaticType] = frozenset({"null", "number", "string", "bool"})
NAN = math.nan


@dataclass(frozen=True)
class Executor:
    kind: str  # "args": exactly these types; "any": any types, this many; "var": the last type repeats
    types: tuple[StaticType, ...]
    result: StaticType
    run: Callable[..., Value]  # takes the arguments' values (QueryValues when query_values)
    query_values: bool = False
    arity: int = 0  # for "any"

    def matches(self, given: Sequence[StaticType]) -> bool:
        if self.kind == "any":
            return len(given) == self.arity
        if self.kind == "var":
            fixed = len(self.types) - 1
            if len(given) < fixed:
                return False

            def ok(g: StaticType, t: StaticType) -> bool:
                return g == t or (self.query_values and g == "query")

            return all(ok(g, t) for g, t in zip(given[:fixed], self.types, strict=False)) and all(
                ok(g, self.types[fixed]) for g in given[fixed:]
            )
        return len(given) == len(self.types) and all(
            types_match(t, g, self.query_values) for t, g in zip(self.types, given, strict=True)
        )


def types_match(expected: StaticType, given: StaticType, query_values: bool) -> bool:
    if expected == given:
        return True
    return query_values and (
        (given == "query" and expected in SUPPORTED_BY_QUERY) or (expected == "query" and given in SUPPORTED_BY_QUERY)
    )


def _string(value: QueryValue) -> str | None:
    """The string a query value holds, or None when it holds none (or a null string)."""
    return value.value if value.kind == "string" and isinstance(value.value, str) else None


def _number(value: QueryValue) -> float | None:
    number = value.value
    return float(number) if value.kind == "double" and isinstance(number, int | float) else None


def _math(fn: Callable[[float], float]) -> Callable[[QueryValue], float]:
    def run(value: QueryValue) -> float:
        number = _number(value)
        if number is None:
            return NAN
        try:
            return fn(number)
        except (OverflowError, ValueError):
            return NAN if math.isnan(number) else _dotnet_math_edge(fn, number)

    return run


def _dotnet_math_edge(fn: Callable[[float], float], number: float) -> float:
    # .NET's Math returns Infinity or NaN where Python raises: exp overflow, sqrt of a negative.
    if fn is math.exp:
        return math.inf
    return NAN


def _sign(number: float) -> float:
    if math.isnan(number):  # edgeHub's Sign checks IsDefined first: NaN is undefined
        return NAN
    return float((number > 0) - (number < 0))


def _ceiling(number: float) -> float:
    return number if math.isinf(number) else float(math.ceil(number))


def _floor(number: float) -> float:
    return number if math.isinf(number) else float(math.floor(number))


def _power(x: QueryValue, y: QueryValue) -> float:
    a, b = _number(x), _number(y)
    if a is None or b is None:
        return NAN
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf if a > 0 or (b == int(b) and int(b) % 2 == 0) else -math.inf
    except ValueError:
        return NAN


def _as_number(value: QueryValue) -> float:
    text = _string(value)
    if text is not None:
        parsed = parse_dotnet_number(text)
        return NAN if parsed is None else parsed
    number = _number(value)
    return NAN if number is None else number


def _is_bool(value: QueryValue) -> TriBool:
    if value.kind == "none":
        return UNDEFINED
    return value.kind == "bool" and value.value is not UNDEFINED


def _is_null_query(value: QueryValue) -> TriBool:
    from edgesim.routing.values import QV_MISSING

    if value.kind == "none":
        return UNDEFINED
    # edgeHub tests `input != QueryValue.Null` by reference: only a path that selects nothing is "not null".
    return value is not QV_MISSING


def _is_number(value: QueryValue) -> bool:
    number = _number(value)
    return number is not None and math.isfinite(number)


def _is_string(value: QueryValue) -> bool:
    return _string(value) is not None


def _concat(*values: QueryValue) -> Value:
    if all(v.kind == "string" for v in values):
        return "".join(v.value if isinstance(v.value, str) else "" for v in values)
    return UNDEFINED


def _text_fn(fn: Callable[[str], Value], undefined: Value) -> Callable[[QueryValue], Value]:
    def run(value: QueryValue) -> Value:
        text = _string(value)
        return undefined if text is None else fn(text)

    return run


def _pair_fn(fn: Callable[[str, str], Value], undefined: Value) -> Callable[[QueryValue, QueryValue], Value]:
    def run(a: QueryValue, b: QueryValue) -> Value:
        x, y = _string(a), _string(b)
        return undefined if x is None or y is None else fn(x, y)

    return run


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _substring(value: QueryValue, start: QueryValue, length: QueryValue | None = None) -> Value:
    text, begin = _string(value), _number(start)
    if text is None or begin is None or math.isnan(begin):
        return UNDEFINED
    size = len(text)
    if length is None:
        return text[int(begin) :] if 0 <= begin <= size else UNDEFINED
    count = _number(length)
    if count is None or math.isnan(count) or not (0 <= begin < size) or not (0 <= count <= size - begin):
        return UNDEFINED
    return text[int(begin) : int(begin) + int(count)]


def _index_of(text: str, fragment: str) -> float:
    return float(text.find(fragment))


def _false(*_: object) -> bool:
    return False


def _true(*_: object) -> bool:
    return True


def _defined_string(value: object) -> bool:
    return value is not UNDEFINED


def _defined_number(value: float) -> bool:
    return not math.isnan(value)


def _defined_query(value: QueryValue) -> bool:
    return value.kind != "none"


def _one(result: StaticType, run: Callable[..., Value], *types: StaticType) -> Executor:
    return Executor("args", types, result, run, query_values=True)


BUILTINS: dict[str, tuple[Executor, ...]] = {
    "abs": (_one("number", _math(abs), "number"),),
    "exp": (_one("number", _math(math.exp), "number"),),
    "power": (_one("number", _power, "number", "number"),),
    "square": (_one("number", _math(lambda v: v * v), "number"),),
    "ceiling": (_one("number", _math(_ceiling), "number"),),
    "floor": (_one("number", _math(_floor), "number"),),
    "sign": (_one("number", _math(_sign), "number"),),
    "sqrt": (_one("number", _math(math.sqrt), "number"),),
    "as_number": (_one("number", _as_number, "string"), Executor("args", ("number",), "number", lambda v: v)),
    "is_bool": (_one("bool", _is_bool, "bool"), Executor("any", (), "bool", _false, arity=1)),
    "is_defined": (
        Executor("args", ("string",), "bool", _defined_string),
        Executor("args", ("number",), "bool", _defined_number),
        Executor("args", ("bool",), "bool", _defined_string),
        Executor("args", ("undefined",), "bool", _false),
        Executor("args", ("null",), "bool", _true),
        Executor("args", ("query",), "bool", _defined_query),
    ),
    "is_null": (
        Executor("args", ("string",), "bool", lambda v: v is None),
        Executor("args", ("query",), "bool", _is_null_query),
        Executor("args", ("null",), "bool", _true),
        Executor("any", (), "bool", _false, arity=1),
    ),
    "is_number": (_one("bool", _is_number, "number"), Executor("any", (), "bool", _false, arity=1)),
    "is_string": (_one("bool", _is_string, "string"), Executor("any", (), "bool", _false, arity=1)),
    "concat": (Executor("var", ("string", "string", "string"), "string", _concat, query_values=True),),
    "length": (_one("number", _text_fn(lambda t: float(_utf16_len(t)), NAN), "string"),),
    "lower": (_one("string", _text_fn(str.lower, UNDEFINED), "string"),),
    "upper": (_one("string", _text_fn(str.upper, UNDEFINED), "string"),),
    "substring": (
        _one("string", _substring, "string", "number"),
        _one("string", _substring, "string", "number", "number"),
    ),
    "index_of": (_one("number", _pair_fn(_index_of, NAN), "string", "string"),),
    "starts_with": (_one("bool", _pair_fn(str.startswith, UNDEFINED), "string", "string"),),
    "ends_with": (_one("bool", _pair_fn(str.endswith, UNDEFINED), "string", "string"),),
    "contains": (_one("bool", _pair_fn(lambda a, b: b in a, UNDEFINED), "string", "string"),),
}

# twin_change_includes(path) exists only for routes from /twinChangeNotifications; it takes its
# argument as a path, not a value, so the compiler handles it apart.
TWIN_CHANGE_INCLUDES = "twin_change_includes"

__all__ = ["BUILTINS", "QV_UNDEFINED", "TWIN_CHANGE_INCLUDES", "Executor", "types_match"]
