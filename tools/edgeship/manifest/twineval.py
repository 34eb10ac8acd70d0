"""Evaluating a compiled target condition against a device twin: values, *undefined* and the closures.

``targeting`` lexes and parses a condition into a tree of these closures; this module holds what
they do at match time, the hot path of a fleet plan. Values follow the query language's rules (see
``targeting``'s docstring): comparisons between primitive values of one type only, a missing
property is ``UNDEFINED``, and ``UNDEFINED`` propagates as in Cosmos DB's SQL dialect.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias, TypeGuard

from edgeship.jsontypes import JSONScalar


class _Undefined:
    """The query language's *undefined*: a missing property, or an operation without a value."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Final = _Undefined()

# A twin as json.loads gives it; an evaluator's result is a JSON value or UNDEFINED.
Twin: TypeAlias = Mapping[str, object]
Evaluator: TypeAlias = Callable[[Twin], object]
Constant: TypeAlias = JSONScalar | _Undefined

# Exact types: twins come from json.loads, and a type lookup is the hot path of a fleet plan.
_KINDS: Final[dict[type, str]] = {type(None): "null", bool: "bool", int: "number", float: "number", str: "string"}


def is_number(value: object) -> TypeGuard[int | float]:
    return _KINDS.get(type(value)) == "number"


def kind_of(value: object) -> str | None:
    """The primitive type of a value, None for objects, arrays and undefined."""
    return _KINDS.get(type(value))


_ORDER: Final[dict[str, Callable[[float | str, float | str], bool]]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def compare(op: str, left: object, right: object) -> object:
    kind = _KINDS.get(type(left))
    if kind is None or kind != _KINDS.get(type(right)):
        return UNDEFINED
    if op in ("=", "!=", "<>"):
        return (left == right) == (op == "=")
    if kind in ("null", "bool") or not isinstance(left, int | float | str) or not isinstance(right, int | float | str):
        return UNDEFINED  # no order among null or Boolean values
    return _ORDER[op](left, right)


def compare_constant(op: str, left: Evaluator, constant: object) -> Evaluator:
    """``property <op> constant``, the usual shape of a target condition, with the constant's type known."""
    kind = _KINDS.get(type(constant))
    if kind is None:
        return lambda _twin: UNDEFINED
    if op in ("=", "!=", "<>"):
        equal = op == "="

        def equality(twin: Twin) -> object:
            value = left(twin)
            if _KINDS.get(type(value)) != kind:
                return UNDEFINED
            return (value == constant) == equal

        return equality
    if kind in ("null", "bool") or not isinstance(constant, int | float | str):
        return lambda _twin: UNDEFINED
    order = _ORDER[op]
    ordered: float | str = constant

    def ordering(twin: Twin) -> object:
        value = left(twin)
        if _KINDS.get(type(value)) != kind or not isinstance(value, int | float | str):
            return UNDEFINED
        return order(value, ordered)

    return ordering


def arithmetic(op: str, left: object, right: object) -> object:
    if not (is_number(left) and is_number(right)):
        return UNDEFINED
    try:
        if op == "+":
            result = left + right
        elif op == "-":
            result = left - right
        elif op == "*":
            result = left * right
        elif op == "/":
            result = left / right
        else:
            result = math.fmod(left, right)
    except (ZeroDivisionError, ValueError, OverflowError):
        return UNDEFINED
    return result


def negate(value: object) -> object:
    return (not value) if isinstance(value, bool) else UNDEFINED


def all_of(operands: tuple[Evaluator, ...]) -> Evaluator:
    """AND: false if any is false, true if all are true, else undefined."""

    def evaluate(twin: Twin) -> object:
        result: object = True
        for operand in operands:
            value = operand(twin)
            if value is False:
                return False
            if value is not True:
                result = UNDEFINED
        return result

    return evaluate


def any_of(operands: tuple[Evaluator, ...]) -> Evaluator:
    """OR: true if any is true, false if all are false, else undefined."""

    def evaluate(twin: Twin) -> object:
        result: object = False
        for operand in operands:
            value = operand(twin)
            if value is True:
                return True
            if value is not False:
                result = UNDEFINED
        return result

    return evaluate


def member_of(left: Evaluator, choices: tuple[JSONScalar, ...], negated: bool) -> Evaluator:
    """``left IN [...]`` (``NIN`` / ``NOT IN`` when negated): primitive values of the same type only."""

    def member(twin: Twin) -> object:
        value = left(twin)
        kind = kind_of(value)
        if kind is None:
            return UNDEFINED
        found = any(kind_of(choice) == kind and choice == value for choice in choices)
        return found != negated

    return member


def chain(first: Evaluator, links: tuple[tuple[str, Evaluator], ...]) -> Evaluator:
    """``a + b - c`` (or ``* / %``), left to right, as one closure."""

    def evaluate(twin: Twin) -> object:
        value = first(twin)
        for op, right in links:
            value = arithmetic(op, value, right(twin))
        return value

    return evaluate


@dataclass(frozen=True)
class ConstantValue:
    """A literal; comparisons against one are specialised (see ``compare_constant``)."""

    value: Constant

    def __call__(self, _twin: Twin) -> object:
        return self.value


def lookup(path: Sequence[str]) -> Evaluator:
    first, rest = path[0], tuple(path[1:])

    def evaluate(twin: Twin) -> object:
        value: object = twin.get(first, UNDEFINED)
        for key in rest:
            if type(value) is not dict:  # JSON objects; anything else has no members
                return UNDEFINED
            value = value.get(key, UNDEFINED)
        return value

    return evaluate
