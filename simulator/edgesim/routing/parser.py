"""edgeHub's route grammar (Route.g4, Condition.g4), parsed by precedence climbing.

``[SELECT *] FROM <path> [WHERE <condition>] INTO <sink>``; the path is ``/`` items (``*`` or an
identifier), so ``/*``, ``/messages/modules/m/outputs/*`` and ``/foo`` all parse. Binary operators bind,
tightest first: ``* / %``, ``+ - ||``, ``< <= > >=``, ``= != <>``, ``AND``, ``OR``, ``??`` (all left
associative); the prefix ``-`` and ``NOT`` bind tighter than any of them, as in ANTLR's left-recursive
rule, so ``NOT a = b`` is ``(NOT a) = b``. Nesting is bounded, so hostile input is a
``RouteSyntaxError``, never a ``RecursionError``.
"""

from __future__ import annotations

from edgesim.routing.errors import RouteSyntaxError
from edgesim.routing.lexer import Token, tokenize, unescape
from edgesim.routing.syntax import Binary, Call, Empty, Literal, Node, Property, SysProperty, Unary, depth

MAX_DEPTH = 64
# Compiling and evaluating recurse once per level of the tree; a long `a AND b AND ...` chain is deep
# on the left, so the tree's depth is bounded too, well inside Python's recursion limit.
MAX_TREE_DEPTH = 300
BINARY_PRECEDENCE = {
    "*": 7,
    "/": 7,
    "%": 7,
    "+": 6,
    "-": 6,
    "||": 6,
    "<": 5,
    "<=": 5,
    ">": 5,
    ">=": 5,
    "=": 4,
    "!=": 4,
    "<>": 4,
    "AND": 3,
    "OR": 2,
    "??": 1,
}
LITERALS = ("STRING", "INTEGER", "HEX", "REAL", "TRUE", "FALSE", "NULL", "UNDEFINED")


def describe(token: Token) -> str:
    return repr(token.text) if token.kind != "EOF" else "end of route"


class TokenStream:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.tokens = tokenize(text, name)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def fail(self, message: str, token: Token | None = None) -> RouteSyntaxError:
        return RouteSyntaxError(message, (token or self.token).position, self.name)

    def advance(self) -> Token:
        token = self.token
        if token.kind != "EOF":
            self.index += 1
        return token

    def at(self, *kinds: str) -> bool:
        return self.token.kind in kinds

    def expect(self, kind: str, what: str | None = None) -> Token:
        if not self.at(kind):
            raise self.fail(f"expected {what or kind}, found {describe(self.token)}")
        return self.advance()

    # ---- conditions ------------------------------------------------------------------
    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"condition nested more than {MAX_DEPTH} levels deep")

    def condition(self) -> Node:
        if self.at("EOF"):
            return Empty()
        return self.expression(0)

    def expression(self, minimum: int) -> Node:
        left = self.prefix()
        while True:
            token = self.token
            precedence = BINARY_PRECEDENCE.get(token.kind)
            if precedence is None or precedence < minimum:
                return left
            self.advance()
            self.nested()
            try:
                right = self.expression(precedence + 1)
                levels = 1 + max(depth(left), depth(right))
                if levels > MAX_TREE_DEPTH:
                    raise self.fail(f"condition has more than {MAX_TREE_DEPTH} levels of operators", token)
                left = Binary(token, left, right, levels)
            finally:
                self.depth -= 1

    def prefix(self) -> Node:
        token = self.token
        if token.kind in ("-", "NOT"):
            self.advance()
            self.nested()
            try:
                operand = self.expression(8)
                return Unary(token, operand, depth(operand) + 1)
            finally:
                self.depth -= 1
        return self.primary()

    def primary(self) -> Node:
        token = self.token
        if token.kind in LITERALS:
            self.advance()
            return Literal(token)
        if token.kind == "UNTERMINATED_STRING":
            raise self.fail("unterminated string")
        if token.kind == "SYS_PROP":
            self.advance()
            return SysProperty(token)
        if token.kind == "{":
            self.advance()
            escaped = self.expect("SYS_PROP", "a system property such as $contentType inside { }")
            self.expect("}", "'}'")
            return SysProperty(escaped, escaped=True)
        if token.kind == "(":
            self.advance()
            self.nested()
            try:
                inner = self.expression(0)
            finally:
                self.depth -= 1
            if not self.at(")"):
                raise self.fail("missing closing ')'", token)
            self.advance()
            return inner
        if token.kind == "ID":
            self.advance()
            if self.at("("):
                return self.call(token)
            return Property(token)
        if token.kind == "UNKNOWN":
            raise self.fail(f"invalid symbol {token.text!r}")
        if token.kind == ")":
            raise self.fail("unmatched closing ')'")
        raise self.fail(f"expected a value, found {describe(token)}")

    def call(self, name: Token) -> Node:
        opening = self.advance()
        args: list[Node] = []
        self.nested()
        try:
            if not self.at(")"):
                args.append(self.expression(0))
                while self.at(","):
                    self.advance()
                    args.append(self.expression(0))
        finally:
            self.depth -= 1
        closing = self.expect(")", f"')' to close {name.text}(")
        levels = 1 + max((depth(a) for a in args), default=0)
        return Call(name, tuple(args), self.text[opening.position + 1 : closing.position].strip(), levels)


def parse_condition_syntax(text: str, name: str = "") -> Node:
    """A condition on its own, as edgeHub's RouteCompiler reads ``Route.Condition``: the rule has no end
    anchor, so ANTLR stops after the first complete expression; a token that cannot start one is an error."""
    stream = TokenStream(text, name)
    node = stream.condition()
    if not stream.at("EOF") and stream.token.kind in (")",):
        raise stream.fail("unmatched closing ')'")
    if not stream.at("EOF") and stream.token.kind == "UNKNOWN":
        raise stream.fail(f"invalid symbol {stream.token.text!r}")
    return node


__all__ = ["MAX_DEPTH", "TokenStream", "describe", "parse_condition_syntax", "unescape"]
