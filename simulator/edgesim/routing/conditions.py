"""WHERE conditions: an expression tree evaluated against a message, with IoT Hub's "undefined".

A property a message does not have is *undefined*, not an error: a comparison with undefined is
undefined, and a condition that is not ``true`` does not match. ``$body.x`` reads the JSON body,
but only when the message says ``application/json`` and ``utf-8``, as IoT Hub and edgeHub do.
Message properties are strings; compared with a number literal, a property that parses as a
number is compared as one (so ``temperature > 50`` does what its author meant).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgesim.message import Message


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


class EvalContext:
    """A message plus its lazily parsed JSON body (parsed once per message, whatever the routes)."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self._body: Any = None
        self._body_parsed = False

    def system(self, name: str) -> Any:
        wanted = name.lower()
        for key, value in self.message.system_properties.items():
            if key.lower() == wanted:
                return value
        return UNDEFINED

    def property(self, name: str) -> Any:
        if name in self.message.properties:
            return self.message.properties[name]
        return UNDEFINED

    def body(self) -> Any:
        if not self._body_parsed:
            self._body_parsed = True
            self._body = UNDEFINED
            content_type = str(self.system("contentType")).lower()
            encoding = str(self.system("contentEncoding")).lower()
            if content_type.startswith("application/json") and encoding in ("utf-8", "utf8"):
                try:
                    self._body = json.loads(self.message.body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    self._body = UNDEFINED
        return self._body


class Expr:
    def evaluate(self, context: EvalContext) -> Any:
        raise NotImplementedError

    def matches(self, message: Message) -> bool:
        return self.evaluate(EvalContext(message)) is True


@dataclass(frozen=True)
class Literal(Expr):
    value: Any

    def evaluate(self, context: EvalContext) -> Any:
        return self.value


@dataclass(frozen=True)
class Property(Expr):
    name: str

    def evaluate(self, context: EvalContext) -> Any:
        return context.property(self.name)


@dataclass(frozen=True)
class SystemProperty(Expr):
    name: str  # without the leading "$"

    def evaluate(self, context: EvalContext) -> Any:
        return context.system(self.name)


@dataclass(frozen=True)
class BodyPath(Expr):
    path: tuple[str | int, ...]

    def evaluate(self, context: EvalContext) -> Any:
        value = context.body()
        for step in self.path:
            if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
                value = value[step]
                continue
            if isinstance(step, str) and isinstance(value, dict) and step in value:
                value = value[step]
                continue
            return UNDEFINED
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _coerce_pair(left: Any, right: Any, left_expr: Expr, right_expr: Expr) -> tuple[Any, Any]:
    # A string-valued message property against a number literal compares as a number.
    if isinstance(left, str) and _is_number(right) and isinstance(left_expr, Property):
        try:
            return float(left), right
        except ValueError:
            return left, right
    if isinstance(right, str) and _is_number(left) and isinstance(right_expr, Property):
        try:
            return left, float(right)
        except ValueError:
            return left, right
    return left, right


def _comparable(left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        return True
    return type(left) is type(right) and isinstance(left, str | bool)


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<>": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


@dataclass(frozen=True)
class Compare(Expr):
    op: str
    left: Expr
    right: Expr

    def evaluate(self, context: EvalContext) -> Any:
        left, right = self.left.evaluate(context), self.right.evaluate(context)
        if left is UNDEFINED or right is UNDEFINED:
            return UNDEFINED
        left, right = _coerce_pair(left, right, self.left, self.right)
        if left is None or right is None:
            if self.op in ("=", "!=", "<>"):
                return COMPARISONS[self.op](left, right)
            return UNDEFINED
        if not _comparable(left, right):
            return UNDEFINED
        if isinstance(left, bool) and self.op not in ("=", "!=", "<>"):
            return UNDEFINED
        return COMPARISONS[self.op](left, right)


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_is_number(a) and _is_number(b)):
        return UNDEFINED
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return UNDEFINED
    if op == "/":
        return a / b
    return math.fmod(a, b)


@dataclass(frozen=True)
class Arithmetic(Expr):
    op: str
    left: Expr
    right: Expr

    def evaluate(self, context: EvalContext) -> Any:
        return _arith(self.op, self.left.evaluate(context), self.right.evaluate(context))


@dataclass(frozen=True)
class Negate(Expr):
    operand: Expr

    def evaluate(self, context: EvalContext) -> Any:
        value = self.operand.evaluate(context)
        return -value if _is_number(value) else UNDEFINED


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr

    def evaluate(self, context: EvalContext) -> Any:
        value = self.operand.evaluate(context)
        return (not value) if isinstance(value, bool) else UNDEFINED


@dataclass(frozen=True)
class And(Expr):
    left: Expr
    right: Expr

    def evaluate(self, context: EvalContext) -> Any:
        left = self.left.evaluate(context)
        if left is False:
            return False
        right = self.right.evaluate(context)
        if right is False:
            return False
        if left is True and right is True:
            return True
        return UNDEFINED


@dataclass(frozen=True)
class Or(Expr):
    left: Expr
    right: Expr

    def evaluate(self, context: EvalContext) -> Any:
        left = self.left.evaluate(context)
        if left is True:
            return True
        right = self.right.evaluate(context)
        if right is True:
            return True
        if left is False and right is False:
            return False
        return UNDEFINED


def _string_fn(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        return fn(*args) if all(isinstance(a, str) for a in args) else UNDEFINED
    return wrapped


def _number_fn(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        if not all(_is_number(a) for a in args):
            return UNDEFINED
        try:
            return fn(*args)
        except (OverflowError, ValueError, ZeroDivisionError):
            return UNDEFINED
    return wrapped


def _substring(text: Any, start: Any, length: Any = None) -> Any:
    if not isinstance(text, str) or not _is_number(start) or (length is not None and not _is_number(length)):
        return UNDEFINED
    begin = max(0, int(start))
    return text[begin:] if length is None else text[begin:begin + max(0, int(length))]


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    # name: (function, min args, max args); arguments are evaluated values
    "IS_DEFINED": (lambda v: v is not UNDEFINED, 1, 1),
    "IS_NULL": (lambda v: v is None, 1, 1),
    "IS_STRING": (lambda v: isinstance(v, str), 1, 1),
    "IS_NUMBER": (_is_number, 1, 1),
    "IS_BOOL": (lambda v: isinstance(v, bool), 1, 1),
    "IS_OBJECT": (lambda v: isinstance(v, dict), 1, 1),
    "IS_ARRAY": (lambda v: isinstance(v, list), 1, 1),
    "IS_PRIMITIVE": (lambda v: v is None or isinstance(v, str | bool | int | float), 1, 1),
    "STARTS_WITH": (_string_fn(lambda a, b: a.startswith(b)), 2, 2),
    "ENDS_WITH": (_string_fn(lambda a, b: a.endswith(b)), 2, 2),
    "CONTAINS": (_string_fn(lambda a, b: b in a), 2, 2),
    "INDEX_OF": (_string_fn(lambda a, b: a.find(b)), 2, 2),
    "LENGTH": (_string_fn(len), 1, 1),
    "LOWER": (_string_fn(str.lower), 1, 1),
    "UPPER": (_string_fn(str.upper), 1, 1),
    "LTRIM": (_string_fn(str.lstrip), 1, 1),
    "RTRIM": (_string_fn(str.rstrip), 1, 1),
    "CONCAT": (_string_fn(lambda *parts: "".join(parts)), 2, 16),
    "SUBSTRING": (_substring, 2, 3),
    "ABS": (_number_fn(abs), 1, 1),
    "CEILING": (_number_fn(math.ceil), 1, 1),
    "FLOOR": (_number_fn(math.floor), 1, 1),
    "EXP": (_number_fn(math.exp), 1, 1),
    "POWER": (_number_fn(math.pow), 2, 2),
    "SQUARE": (_number_fn(lambda v: v * v), 1, 1),
    "SIGN": (_number_fn(lambda v: (v > 0) - (v < 0)), 1, 1),
}


@dataclass(frozen=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...]

    def evaluate(self, context: EvalContext) -> Any:
        function = FUNCTIONS[self.name][0]
        values = [arg.evaluate(context) for arg in self.args]
        if self.name != "IS_DEFINED" and any(v is UNDEFINED for v in values):
            return UNDEFINED
        return function(*values)
