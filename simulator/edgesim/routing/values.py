"""The runtime values of edgeHub's condition language.

edgeHub compiles a condition to a typed C# expression, so every node has a static type:
``number`` (a double; NaN is undefined), ``string`` (None is a property present with a null value),
``bool`` (three-valued), ``null``, ``undefined``, and ``query`` (a ``$body`` value whose type is only
known when the message arrives). These classes carry the same distinctions.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias


class Undefined(enum.Enum):
    """Undefined, whatever the static type: the undefined string, Bool.Undefined and Undefined itself.
    One member, so ``value is UNDEFINED`` narrows a value's type."""

    UNDEFINED = "undefined"

    def __repr__(self) -> str:
        return "undefined"


class Null(enum.Enum):
    """The ``null`` literal's value (a JSON ``null`` in a ``$body`` value is another: see ``QueryValue``)."""

    NULL = "null"

    def __repr__(self) -> str:
        return "null"


UNDEFINED: Final = Undefined.UNDEFINED
NULL: Final = Null.NULL

TriBool: TypeAlias = "bool | Undefined"  # edgeHub's three-valued Bool

StaticType = Literal["number", "string", "bool", "null", "undefined", "query"]
TYPE_NAMES: dict[StaticType, str] = {
    "number": "number",
    "string": "string",
    "bool": "bool",
    "null": "null",
    "undefined": "undefined",
    "query": "unknown",
}

QueryKind = Literal["none", "bool", "double", "string", "null", "object"]
# QueryValue.CompareTo orders values of different kinds by the enum's order.
KIND_ORDER: dict[QueryKind, int] = {"none": 0, "bool": 1, "double": 2, "string": 3, "null": 4, "object": 5}


@dataclass(eq=False)
class QueryValue:
    """A ``$body`` value. Identity matters: ``MISSING`` (a path that selects nothing) is one object,
    a JSON ``null`` in the body is another, and edgeHub's ``is_null`` tells them apart by reference.

    ``value`` by ``kind``: ``bool`` a bool, ``double`` a float, ``string`` a str (or None), ``null``
    ``NULL``, ``object`` the JSON node itself, ``none`` nothing."""

    kind: QueryKind
    value: object = None


QV_UNDEFINED = QueryValue("none")
QV_MISSING = QueryValue("null", NULL)

# What a compiled condition node evaluates to; its static type says which: number -> float (NaN is
# undefined), string -> str / None / UNDEFINED, bool -> TriBool, null -> NULL, undefined ->
# UNDEFINED, query -> QueryValue.
Value: TypeAlias = "float | str | bool | Undefined | Null | QueryValue | None"


def as_number(value: Value) -> float:
    """The value of a node of static type ``number``."""
    if isinstance(value, float):
        return value
    raise TypeError(f"expected a number, got {value!r}")


def as_tribool(value: Value) -> TriBool:
    """The value of a node of static type ``bool``."""
    if isinstance(value, bool | Undefined):
        return value
    raise TypeError(f"expected a bool, got {value!r}")


def as_query(value: Value) -> QueryValue:
    """The value of a node of static type ``query``."""
    if isinstance(value, QueryValue):
        return value
    raise TypeError(f"expected a $body value, got {value!r}")


def to_query(static: StaticType, value: Value) -> QueryValue:
    """The implicit conversions of a typed value to a QueryValue."""
    if static == "query":
        return as_query(value)
    if value is UNDEFINED or static == "undefined":
        return QV_UNDEFINED
    if static == "number":
        number = as_number(value)
        return QV_UNDEFINED if math.isnan(number) else QueryValue("double", number)
    if static == "string":
        return QueryValue("string", value)
    if static == "bool":
        return QueryValue("bool", value)
    return QueryValue("null", NULL)


def query_to_bool(value: QueryValue) -> TriBool:
    return value.value if value.kind == "bool" and isinstance(value.value, bool) else UNDEFINED


def compare_doubles(a: float, b: float) -> int:
    """System.Double.CompareTo: NaN sorts below every number and equals itself."""
    if math.isnan(a):
        return 0 if math.isnan(b) else -1
    if math.isnan(b):
        return 1
    return (a > b) - (a < b)


def compare_strings(a: str | None, b: str | None) -> int:
    """string.Compare(..., Ordinal): null sorts first. Ordinal compares UTF-16 code units."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    ua, ub = a.encode("utf-16-be"), b.encode("utf-16-be")
    return (ua > ub) - (ua < ub)


def bool_rank(value: object) -> int:
    return 1 if value is True else -1 if value is False else 0


def compare_query(a: QueryValue, b: QueryValue) -> int:
    if a.kind != b.kind:
        return KIND_ORDER[a.kind] - KIND_ORDER[b.kind]
    if a.kind == "bool":
        return bool_rank(a.value) - bool_rank(b.value)
    if a.kind == "string":
        return compare_strings(_str_or_none(a.value), _str_or_none(b.value))
    if a.kind == "double":
        return compare_doubles(_float(a.value), _float(b.value))
    if a.kind == "null":
        return 0
    # Objects: equal only when they are the same JSON node (edgeHub compares references).
    return 0 if a.value is b.value else (1 if id(a.value) > id(b.value) else -1)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _float(value: object) -> float:
    return value if isinstance(value, float) else math.nan


_DOTNET_NUMBER = re.compile(r"[0-9][0-9,]*(\.[0-9]*)?|\.[0-9]+")


def parse_dotnet_number(text: str) -> float | None:
    """double.TryParse(text, NumberStyles.Any, InvariantCulture), the subset real data uses: surrounding
    white space, a leading or trailing sign, parentheses for negative, thousands separators, a decimal
    point, an exponent, and the invariant culture's Infinity / NaN symbols."""
    body = text.strip(" \t\n\v\f\r")
    negative = False
    if body.startswith("(") and body.endswith(")"):
        body, negative = body[1:-1], True
    if body[:1] in "+-" and body:
        negative, body = negative != (body[0] == "-"), body[1:]
    elif body[-1:] in ("+", "-") and body:
        negative, body = negative != (body[-1] == "-"), body[:-1]
    special = {"infinity": math.inf, "nan": math.nan, "∞": math.inf}.get(body.lower())
    if special is not None:
        return -special if negative else special
    mantissa, _, exponent = body.partition("e") if "e" in body else body.partition("E")
    if not _DOTNET_NUMBER.fullmatch(mantissa):
        return None
    if exponent and not re.fullmatch(r"[+-]?[0-9]+", exponent):
        return None
    if ("e" in body or "E" in body) and not exponent:
        return None
    try:
        value = float(mantissa.replace(",", "") + (f"e{exponent}" if exponent else ""))
    except ValueError:
        return None
    return -value if negative else value
