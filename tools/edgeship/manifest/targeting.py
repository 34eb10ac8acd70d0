"""IoT Hub target conditions: the WHERE part of the device twin query language, compiled once.

A condition is parsed into a tree of closures over a twin (``{"deviceId", "tags", "properties":
{"reported": ...}}``) so a fleet of devices is matched without parsing it again per device.

Values follow the query language's rules (IoT Hub's query language page, "Expressions and
conditions"): a condition holds only when it evaluates to Boolean ``true``; comparisons are
between primitive values only; a missing property is *undefined*. Undefined propagates the way
the SQL dialect IoT Hub's language comes from (Cosmos DB) defines it: a comparison with
undefined, or between values of different types, is undefined, ``NOT undefined`` is undefined,
``false AND undefined`` is false and ``true OR undefined`` is true.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from edgeship.errors import ManifestError


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

Evaluator = Callable[[Mapping[str, Any]], Any]


class ConditionError(ManifestError):
    """A target condition that does not parse; ``column`` is 1-based inside the condition."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|''|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op><>|!=|<=|>=|[=<>+\-*/%(),.\[\]])
""", re.VERBOSE)

_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "NIN", "TRUE", "FALSE", "NULL", "UNDEFINED"})
_FUNCTIONS = frozenset({"IS_DEFINED"})
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, op, end
    text: str  # keywords upper-cased
    column: int
    value: Any = None  # a number's or string's value; a keyword's text as written


def _unquote(text: str, column: int) -> str:
    quote, body = text[0], text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if quote == "'" and char == "'":  # '' inside '...': the target-condition escape for a quote
            out.append("'")
            i += 2
            continue
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = body[i + 1]
        if escape == "u":
            digits = body[i + 2:i + 6]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                raise ConditionError("\\u takes 4 hexadecimal digits", column + i + 1)
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        if escape not in _ESCAPES:
            raise ConditionError(f"unknown escape \\{escape} in a string", column + i + 1)
        out.append(_ESCAPES[escape])
        i += 2
    return "".join(out)


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        column = position + 1
        if match is None:
            char = text[position]
            hint = " (a string that is not closed?)" if char in "'\"" else ""
            raise ConditionError(f"unexpected {char!r}{hint}", column)
        kind = match.lastgroup or ""
        word = match.group()
        position = match.end()
        if kind == "space":
            continue
        if kind == "number":
            value: Any = int(word, 16) if word[:2].lower() == "0x" else float(word)
            if isinstance(value, float) and value.is_integer() and re.fullmatch(r"\d+", word):
                value = int(word)
            tokens.append(_Token("number", word, column, value))
        elif kind == "string":
            if word[0] == '"':
                # The target-condition rules forbid them although twin queries take them.
                raise ConditionError("double quotes are not allowed in a target condition; use 'single quotes'",
                                     column)
            tokens.append(_Token("string", word, column, _unquote(word, column)))
        elif kind == "name" and word.upper() in _KEYWORDS:
            tokens.append(_Token("keyword", word.upper(), column, word))
        else:
            tokens.append(_Token(kind, word, column))
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


# Exact types: twins come from json.loads, and a type lookup is the hot path of a fleet plan.
_KINDS: Final[dict[type, str]] = {type(None): "null", bool: "bool", int: "number", float: "number", str: "string"}


def _is_number(value: Any) -> bool:
    return _KINDS.get(type(value)) == "number"


def _kind(value: Any) -> str | None:
    """The primitive type of a value, None for objects, arrays and undefined."""
    return _KINDS.get(type(value))


_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": lambda a, b: bool(a < b), ">": lambda a, b: bool(a > b),
    "<=": lambda a, b: bool(a <= b), ">=": lambda a, b: bool(a >= b)}


def _compare(op: str, left: Any, right: Any) -> Any:
    kind = _KINDS.get(type(left))
    if kind is None or kind != _KINDS.get(type(right)):
        return UNDEFINED
    if op in ("=", "!=", "<>"):
        return (left == right) == (op == "=")
    if kind in ("null", "bool"):
        return UNDEFINED  # no order among null or Boolean values
    return _ORDER[op](left, right)


def _compare_constant(op: str, left: Evaluator, constant: Any) -> Evaluator:
    """``property <op> constant``, the usual shape of a target condition, with the constant's type known."""
    kind = _KINDS.get(type(constant))
    if kind is None:
        return lambda _twin: UNDEFINED
    if op in ("=", "!=", "<>"):
        equal = op == "="

        def equality(twin: Mapping[str, Any]) -> Any:
            value = left(twin)
            if _KINDS.get(type(value)) != kind:
                return UNDEFINED
            return (value == constant) == equal

        return equality
    if kind in ("null", "bool"):
        return lambda _twin: UNDEFINED
    order = _ORDER[op]

    def ordering(twin: Mapping[str, Any]) -> Any:
        value = left(twin)
        if _KINDS.get(type(value)) != kind:
            return UNDEFINED
        return order(value, constant)

    return ordering


def _arithmetic(op: str, left: Any, right: Any) -> Any:
    if not (_is_number(left) and _is_number(right)):
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


def _not(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else UNDEFINED


def _all_of(operands: tuple[Evaluator, ...]) -> Evaluator:
    """AND: false if any is false, true if all are true, else undefined."""

    def evaluate(twin: Mapping[str, Any]) -> Any:
        result: Any = True
        for operand in operands:
            value = operand(twin)
            if value is False:
                return False
            if value is not True:
                result = UNDEFINED
        return result

    return evaluate


def _any_of(operands: tuple[Evaluator, ...]) -> Evaluator:
    """OR: true if any is true, false if all are false, else undefined."""

    def evaluate(twin: Mapping[str, Any]) -> Any:
        result: Any = False
        for operand in operands:
            value = operand(twin)
            if value is True:
                return True
            if value is not False:
                result = UNDEFINED
        return result

    return evaluate


@dataclass(frozen=True)
class _Constant:
    """A literal; comparisons against one are specialised (see ``_compare_constant``)."""

    value: Any

    def __call__(self, _twin: Mapping[str, Any]) -> Any:
        return self.value


def _lookup(path: Sequence[str]) -> Evaluator:
    first, rest = path[0], tuple(path[1:])

    def evaluate(twin: Mapping[str, Any]) -> Any:
        value: Any = twin.get(first, UNDEFINED)
        for key in rest:
            if type(value) is not dict:  # JSON objects; anything else has no members
                return UNDEFINED
            value = value.get(key, UNDEFINED)
        return value

    return evaluate


class _Parser:
    """Precedence, loosest first: OR, AND, NOT, comparison and [N]IN, + -, * / %, unary -."""

    MAX_DEPTH = 64  # parentheses, NOT and unary minus nest; deeper would overflow Python's stack

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.depth = 0

    def nest(self) -> None:
        self.depth += 1
        if self.depth > self.MAX_DEPTH:
            raise ConditionError(f"nested more than {self.MAX_DEPTH} levels deep", self.token.column)

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_op(self, *texts: str) -> bool:
        return self.token.kind == "op" and self.token.text in texts

    def is_keyword(self, *words: str) -> bool:
        return self.token.kind == "keyword" and self.token.text in words

    def expect_op(self, text: str) -> None:
        if not self.is_op(text):
            raise ConditionError(f"expected {text!r}, found {self._found()}", self.token.column)
        self.advance()

    def _found(self) -> str:
        return "the end" if self.token.kind == "end" else repr(self.token.text)

    def parse(self) -> Evaluator:
        if self.token.kind == "end":
            raise ConditionError("the condition is empty", 1)
        tree = self.disjunction()
        if self.token.kind != "end":
            hint = " (AND or OR missing before it?)" if self.is_keyword("NOT") or self.token.kind == "name" else ""
            raise ConditionError(f"unexpected {self._found()}{hint}", self.token.column)
        return tree

    # Chains are kept flat (one closure over a list, not one per operator) so a long
    # `a AND b AND ...` neither nests the stack nor costs a call per link.
    def disjunction(self) -> Evaluator:
        operands = [self.conjunction()]
        while self.is_keyword("OR"):
            self.advance()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else _any_of(tuple(operands))

    def conjunction(self) -> Evaluator:
        operands = [self.negation()]
        while self.is_keyword("AND"):
            self.advance()
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else _all_of(tuple(operands))

    def negation(self) -> Evaluator:
        if self.is_keyword("NOT"):
            self.nest()
            self.advance()
            inner = self.negation()
            self.depth -= 1
            return lambda twin: _not(inner(twin))
        return self.comparison()

    def comparison(self) -> Evaluator:
        left = self.additive()
        if self.is_op("=", "!=", "<>", "<", ">", "<=", ">="):
            op = self.advance().text
            right = self.additive()
            if isinstance(right, _Constant):
                return _compare_constant(op, left, right.value)
            return lambda twin: _compare(op, left(twin), right(twin))
        if self.is_keyword("IN", "NIN") or (self.is_keyword("NOT") and self._next_is_in()):
            negate = self.token.text in ("NIN", "NOT")
            if self.advance().text == "NOT":
                self.advance()
            choices = self.array()

            def member(twin: Mapping[str, Any]) -> Any:
                value = left(twin)
                kind = _kind(value)
                if kind is None:
                    return UNDEFINED
                found = any(_kind(choice) == kind and choice == value for choice in choices)
                return found != negate

            return member
        return left

    def _next_is_in(self) -> bool:
        following = self.tokens[self.index + 1]
        return following.kind == "keyword" and following.text == "IN"

    def array(self) -> tuple[Any, ...]:
        column = self.token.column
        if not self.is_op("["):
            raise ConditionError(f"IN takes an array of constants like ['a', 'b'], found {self._found()}", column)
        self.advance()
        values: list[Any] = []
        while True:
            values.append(self.constant())
            if self.is_op("]"):
                self.advance()
                return tuple(values)
            self.expect_op(",")

    def constant(self) -> Any:
        negative = self.is_op("-")
        if negative:
            self.advance()
        token = self.advance()
        if token.kind == "number":
            return -token.value if negative else token.value
        if not negative:
            if token.kind == "string":
                return token.value
            if token.kind == "keyword" and token.text in ("TRUE", "FALSE", "NULL"):
                return {"TRUE": True, "FALSE": False, "NULL": None}[token.text]
        raise ConditionError(f"expected a constant, found {token.text!r}" if token.kind != "end"
                             else "expected a constant, found the end", token.column)

    def additive(self) -> Evaluator:
        return self._chain(self.multiplicative, ("+", "-"))

    def multiplicative(self) -> Evaluator:
        return self._chain(self.unary, ("*", "/", "%"))

    def _chain(self, operand: Callable[[], Evaluator], ops: tuple[str, ...]) -> Evaluator:
        first = operand()
        rest: list[tuple[str, Evaluator]] = []
        while self.is_op(*ops):
            op = self.advance().text
            rest.append((op, operand()))
        if not rest:
            return first
        links = tuple(rest)

        def evaluate(twin: Mapping[str, Any]) -> Any:
            value = first(twin)
            for op, right in links:
                value = _arithmetic(op, value, right(twin))
            return value

        return evaluate

    def unary(self) -> Evaluator:
        if self.is_op("-"):
            self.nest()
            self.advance()
            inner = self.unary()
            self.depth -= 1
            return lambda twin: _arithmetic("-", 0, inner(twin))
        return self.primary()

    def primary(self) -> Evaluator:
        token = self.token
        if self.is_op("("):
            self.nest()
            self.advance()
            inner = self.disjunction()
            self.expect_op(")")
            self.depth -= 1
            return inner
        if token.kind in ("number", "string"):
            self.advance()
            return _Constant(token.value)
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE", "NULL", "UNDEFINED"):
            self.advance()
            return _Constant({"TRUE": True, "FALSE": False, "NULL": None, "UNDEFINED": UNDEFINED}[token.text])
        if token.kind == "name":
            self.advance()
            if self.is_op("("):
                return self.function(token)
            path = [token.text]
            while self.is_op("."):
                self.advance()
                part = self.advance()
                if part.kind not in ("name", "keyword"):
                    raise ConditionError(f"expected a property name after '.', found {part.text!r}" if part.text
                                         else "expected a property name after '.'", part.column)
                path.append(part.text if part.kind == "name" else str(part.value))
            self._check_root(path, token.column)
            return _lookup(path)
        raise ConditionError(f"expected a property, a constant or '(', found {self._found()}", token.column)

    @staticmethod
    def _check_root(path: Sequence[str], column: int) -> None:
        # The target-condition rules name what a condition may read; anything else (a typo such as
        # `tag.x`) would silently match no device.
        if path[0] in ("tags", "deviceId", "capabilities") or path[:2] == ["properties", "reported"]:
            return
        raise ConditionError(f"{'.'.join(path)}: a target condition reads tags.*, properties.reported.*, "
                             "deviceId or capabilities.*", column)

    def function(self, name: _Token) -> Evaluator:
        if name.text.upper() not in _FUNCTIONS:
            raise ConditionError(f"unknown function {name.text}(); twin queries have IS_DEFINED()", name.column)
        self.expect_op("(")
        inner = self.additive()
        self.expect_op(")")
        return lambda twin: inner(twin) is not UNDEFINED

@dataclass(frozen=True)
class Condition:
    """A compiled target condition; ``matches(twin)`` is true only when it evaluates to true."""

    text: str
    evaluate: Evaluator

    def matches(self, twin: Mapping[str, Any]) -> bool:
        return self.evaluate(twin) is True


def compile_condition(text: str) -> Condition:
    """Parse a target condition (``*`` targets every device); raises ConditionError with the column."""
    stripped = text.strip()
    if stripped == "*":
        return Condition(text, lambda _twin: True)
    return Condition(text, _Parser(text).parse())


TWIN_KEYS = frozenset({"deviceId", "moduleId", "etag", "deviceEtag", "status", "statusReason", "statusUpdateTime",
                        "connectionState", "lastActivityTime", "cloudToDeviceMessageCount", "authenticationType",
                        "x509Thumbprint", "modelId", "version", "tags", "properties", "capabilities",
                        "deviceScope", "parentScopes"})


def as_twin(document: Mapping[str, Any], device_id: str | None = None) -> dict[str, Any]:
    """A device twin from either a twin (``{"tags": ..., "properties": {"reported": ...}}``) or bare tags.

    A document is taken as a twin when it has ``tags`` or ``properties`` and every key is a twin's;
    anything else is the tags themselves.
    """
    is_twin = ("tags" in document or "properties" in document) and set(document) <= TWIN_KEYS
    twin: dict[str, Any] = dict(document) if is_twin else {"tags": dict(document)}
    if device_id is not None:
        twin.setdefault("deviceId", device_id)
    return twin
