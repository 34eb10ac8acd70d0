"""IoT Hub target conditions: the WHERE part of the device twin query language, compiled once.

A condition is parsed into a tree of closures over a twin (``{"deviceId", "tags", "properties":
{"reported": ...}}``) so a fleet of devices is matched without parsing it again per device. This module lexes
and parses; the closures and the value rules they apply live in ``twineval``.

Values follow the query language's rules (IoT Hub's query language page, "Expressions and
conditions"): a condition holds only when it evaluates to Boolean ``true``; comparisons are
between primitive values only; a missing property is *undefined*. Undefined propagates the way
the SQL dialect IoT Hub's language comes from (Cosmos DB) defines it: a comparison with
undefined, or between values of different types, is undefined, ``NOT undefined`` is undefined,
``false AND undefined`` is false and ``true OR undefined`` is true.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from edgeship.errors import ManifestError
from edgeship.jsontypes import JSONScalar
from edgeship.manifest.twineval import (
    UNDEFINED,
    ConstantValue,
    Evaluator,
    Twin,
    all_of,
    any_of,
    arithmetic,
    chain,
    compare,
    compare_constant,
    lookup,
    member_of,
    negate,
)


class ConditionError(ManifestError):
    """A target condition that does not parse; ``column`` is 1-based inside the condition."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|''|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op><>|!=|<=|>=|[=<>+\-*/%(),.\[\]])
""",
    re.VERBOSE,
)

_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "NIN", "TRUE", "FALSE", "NULL", "UNDEFINED"})
_FUNCTIONS = frozenset({"IS_DEFINED"})
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, op, end
    text: str  # keywords upper-cased
    column: int
    value: JSONScalar = None  # a number's or string's value; a keyword's text as written


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
            digits = body[i + 2 : i + 6]
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
            value: int | float = int(word, 16) if word[:2].lower() == "0x" else float(word)
            if isinstance(value, float) and value.is_integer() and re.fullmatch(r"\d+", word):
                value = int(word)
            tokens.append(_Token("number", word, column, value))
        elif kind == "string":
            if word[0] == '"':
                # The target-condition rules forbid them although twin queries take them.
                raise ConditionError("double quotes are not allowed in a target condition; use 'single quotes'", column)
            tokens.append(_Token("string", word, column, _unquote(word, column)))
        elif kind == "name" and word.upper() in _KEYWORDS:
            tokens.append(_Token("keyword", word.upper(), column, word))
        else:
            tokens.append(_Token(kind, word, column))
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


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
        return operands[0] if len(operands) == 1 else any_of(tuple(operands))

    def conjunction(self) -> Evaluator:
        operands = [self.negation()]
        while self.is_keyword("AND"):
            self.advance()
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else all_of(tuple(operands))

    def negation(self) -> Evaluator:
        if self.is_keyword("NOT"):
            self.nest()
            self.advance()
            inner = self.negation()
            self.depth -= 1
            return lambda twin: negate(inner(twin))
        return self.comparison()

    def comparison(self) -> Evaluator:
        left = self.additive()
        if self.is_op("=", "!=", "<>", "<", ">", "<=", ">="):
            op = self.advance().text
            right = self.additive()
            if isinstance(right, ConstantValue):
                return compare_constant(op, left, right.value)
            return lambda twin: compare(op, left(twin), right(twin))
        if self.is_keyword("IN", "NIN") or (self.is_keyword("NOT") and self._next_is_in()):
            negated = self.token.text in ("NIN", "NOT")
            if self.advance().text == "NOT":
                self.advance()
            return member_of(left, self.array(), negated)
        return left

    def _next_is_in(self) -> bool:
        following = self.tokens[self.index + 1]
        return following.kind == "keyword" and following.text == "IN"

    def array(self) -> tuple[JSONScalar, ...]:
        column = self.token.column
        if not self.is_op("["):
            raise ConditionError(f"IN takes an array of constants like ['a', 'b'], found {self._found()}", column)
        self.advance()
        values: list[JSONScalar] = []
        while True:
            values.append(self.constant())
            if self.is_op("]"):
                self.advance()
                return tuple(values)
            self.expect_op(",")

    def constant(self) -> JSONScalar:
        negative = self.is_op("-")
        if negative:
            self.advance()
        token = self.advance()
        if token.kind == "number" and isinstance(token.value, int | float):
            return -token.value if negative else token.value
        if not negative:
            if token.kind == "string":
                return token.value
            if token.kind == "keyword" and token.text in ("TRUE", "FALSE", "NULL"):
                return {"TRUE": True, "FALSE": False, "NULL": None}[token.text]
        raise ConditionError(
            f"expected a constant, found {token.text!r}"
            if token.kind != "end"
            else "expected a constant, found the end",
            token.column,
        )

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
        return chain(first, tuple(rest))

    def unary(self) -> Evaluator:
        if self.is_op("-"):
            self.nest()
            self.advance()
            inner = self.unary()
            self.depth -= 1
            return lambda twin: arithmetic("-", 0, inner(twin))
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
            return ConstantValue(token.value)
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE", "NULL", "UNDEFINED"):
            self.advance()
            return ConstantValue({"TRUE": True, "FALSE": False, "NULL": None, "UNDEFINED": UNDEFINED}[token.text])
        if token.kind == "name":
            self.advance()
            if self.is_op("("):
                return self.function(token)
            path = [token.text]
            while self.is_op("."):
                self.advance()
                part = self.advance()
                if part.kind not in ("name", "keyword"):
                    raise ConditionError(
                        f"expected a property name after '.', found {part.text!r}"
                        if part.text
                        else "expected a property name after '.'",
                        part.column,
                    )
                path.append(part.text if part.kind == "name" else str(part.value))
            self._check_root(path, token.column)
            return lookup(path)
        raise ConditionError(f"expected a property, a constant or '(', found {self._found()}", token.column)

    @staticmethod
    def _check_root(path: Sequence[str], column: int) -> None:
        # The target-condition rules name what a condition may read; anything else (a typo such as
        # `tag.x`) would silently match no device.
        if path[0] in ("tags", "deviceId", "capabilities") or path[:2] == ["properties", "reported"]:
            return
        raise ConditionError(
            f"{'.'.join(path)}: a target condition reads tags.*, properties.reported.*, deviceId or capabilities.*",
            column,
        )

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

    def matches(self, twin: Twin) -> bool:
        return self.evaluate(twin) is True


def compile_condition(text: str) -> Condition:
    """Parse a target condition (``*`` targets every device); raises ConditionError with the column."""
    stripped = text.strip()
    if stripped == "*":
        return Condition(text, lambda _twin: True)
    return Condition(text, _Parser(text).parse())


TWIN_KEYS = frozenset(
    {
        "deviceId",
        "moduleId",
        "etag",
        "deviceEtag",
        "status",
        "statusReason",
        "statusUpdateTime",
        "connectionState",
        "lastActivityTime",
        "cloudToDeviceMessageCount",
        "authenticationType",
        "x509Thumbprint",
        "modelId",
        "version",
        "tags",
        "properties",
        "capabilities",
        "deviceScope",
        "parentScopes",
    }
)


def as_twin(document: Mapping[str, object], device_id: str | None = None) -> dict[str, object]:
    """A device twin from either a twin (``{"tags": ..., "properties": {"reported": ...}}``) or bare tags.

    A document is taken as a twin when it has ``tags`` or ``properties`` and every key is a twin's;
    anything else is the tags themselves.
    """
    is_twin = ("tags" in document or "properties" in document) and set(document) <= TWIN_KEYS
    twin: dict[str, object] = dict(document) if is_twin else {"tags": dict(document)}
    if device_id is not None:
        twin.setdefault("deviceId", device_id)
    return twin
