"""A recursive-descent parser for ``[SELECT *] FROM <source> [WHERE <condition>] INTO <sink>``.

Precedence, lowest first: OR, AND, NOT, comparison, + -, * / %, unary minus, primary. Nesting is
bounded so hostile input is a ``RouteSyntaxError``, never a ``RecursionError``.
"""

from __future__ import annotations

from edgesim.routing.conditions import (
    FUNCTIONS,
    And,
    Arithmetic,
    BodyPath,
    Call,
    Compare,
    Expr,
    Literal,
    Negate,
    Not,
    Or,
    Property,
    SystemProperty,
)
from edgesim.routing.errors import RouteSyntaxError
from edgesim.routing.lexer import Token, tokenize
from edgesim.routing.model import ModuleInputSink, Route, RouteSource, Sink, UpstreamSink, parse_source

MAX_DEPTH = 64
BROKERED_PREFIX = "/modules/"


class _Parser:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.tokens = tokenize(text, name)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def fail(self, message: str, token: Token | None = None) -> RouteSyntaxError:
        return RouteSyntaxError(message, (token or self.token).position, self.name)

    def advance(self) -> Token:
        token = self.token
        if token.kind != "end":
            self.index += 1
        return token

    def at_keyword(self, word: str) -> bool:
        return self.token.kind == "keyword" and self.token.text == word

    def at_op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def expect_keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            found = self.token.text or "end of route"
            raise self.fail(f"expected {word}, found {found!r}")
        return self.advance()

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.fail(f"expected {op!r}, found {self.token.text or 'end of route'!r}")
        return self.advance()

    # ---- the route -------------------------------------------------------------------
    def route(self, priority: int, ttl_secs: int | None) -> Route:
        if self.at_keyword("SELECT"):
            self.advance()
            self.expect_op("*")
        self.expect_keyword("FROM")
        if self.token.kind != "path":
            raise self.fail("expected a source such as /messages/modules/<module>/outputs/<output>")
        path_token = self.advance()
        source = self.source(path_token)
        condition: Expr | None = None
        if self.at_keyword("WHERE"):
            self.advance()
            condition = self.expression()
        self.expect_keyword("INTO")
        sink = self.sink()
        if self.token.kind != "end":
            raise self.fail(f"unexpected {self.token.text!r} after the sink")
        return Route(self.name, self.text, source, condition, sink, priority, ttl_secs)

    def source(self, token: Token) -> RouteSource:
        source = parse_source(token.text)
        if source is None:
            raise self.fail(f"unknown source {token.text!r}", token)
        return source

    def sink(self) -> Sink:
        token = self.token
        if token.kind == "sysname" and token.text.lower() == "$upstream":
            self.advance()
            return UpstreamSink()
        if token.kind == "name" and token.text.lower() == "brokeredendpoint":
            self.advance()
            self.expect_op("(")
            target = self.token
            if target.kind != "string":
                raise self.fail('expected a quoted endpoint such as "/modules/<module>/inputs/<input>"')
            self.advance()
            self.expect_op(")")
            parts = str(target.value).strip().split("/")
            # "/modules/{m}/inputs/{i}" -> ["", "modules", m, "inputs", i]
            if len(parts) != 5 or parts[0] != "" or parts[1] != "modules" or parts[3] != "inputs" \
                    or not parts[2] or not parts[4]:
                raise self.fail(f"endpoint {target.value!r} is not /modules/<module>/inputs/<input>", target)
            return ModuleInputSink(parts[2], parts[4])
        raise self.fail(f'expected $upstream or BrokeredEndpoint("..."), found {token.text or "end of route"!r}')

    # ---- conditions ------------------------------------------------------------------
    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"condition nested more than {MAX_DEPTH} levels deep")

    def expression(self) -> Expr:
        self.nested()
        try:
            return self.or_expr()
        finally:
            self.depth -= 1

    def or_expr(self) -> Expr:
        left = self.and_expr()
        while self.at_keyword("OR"):
            self.advance()
            left = Or(left, self.and_expr())
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.at_keyword("AND"):
            self.advance()
            left = And(left, self.not_expr())
        return left

    def not_expr(self) -> Expr:
        if self.at_keyword("NOT"):
            self.advance()
            self.nested()
            try:
                return Not(self.not_expr())
            finally:
                self.depth -= 1
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        if self.at_op("=", "!=", "<>", "<", "<=", ">", ">="):
            op = self.advance().text
            left = Compare(op, left, self.additive())
            if self.at_op("=", "!=", "<>", "<", "<=", ">", ">="):
                raise self.fail("comparisons cannot be chained; use AND")
        return left

    def additive(self) -> Expr:
        left = self.multiplicative()
        while self.at_op("+", "-"):
            op = self.advance().text
            left = Arithmetic(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Expr:
        left = self.unary()
        while self.at_op("*", "/", "%"):
            op = self.advance().text
            left = Arithmetic(op, left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.at_op("-"):
            self.advance()
            self.nested()
            try:
                return Negate(self.unary())
            finally:
                self.depth -= 1
        return self.primary()

    def primary(self) -> Expr:
        token = self.token
        if token.kind == "number":
            self.advance()
            value = token.value
            assert isinstance(value, float)
            return Literal(int(value) if value.is_integer() and "." not in token.text and "e" not in
                           token.text.lower() else value)
        if token.kind == "string":
            self.advance()
            return Literal(token.value)
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE", "NULL"):
            self.advance()
            return Literal({"TRUE": True, "FALSE": False, "NULL": None}[token.text])
        if self.at_op("("):
            self.advance()
            inner = self.expression()
            self.expect_op(")")
            return inner
        if token.kind == "sysname":
            self.advance()
            return self.system_or_body(token)
        if token.kind == "name":
            self.advance()
            if self.at_op("("):
                return self.call(token)
            return Property(token.text)
        raise self.fail(f"expected a value, found {token.text or 'end of route'!r}")

    def system_or_body(self, token: Token) -> Expr:
        name = token.text[1:]
        if name.lower() == "body" or name.lower().startswith("body."):
            steps: list[str | int] = [part for part in name.split(".")[1:] if part]
            while self.at_op("["):
                self.advance()
                index = self.token
                if index.kind == "number" and isinstance(index.value, float) and index.value.is_integer():
                    steps.append(int(index.value))
                elif index.kind == "string":
                    steps.append(str(index.value))
                else:
                    raise self.fail("expected an index or a quoted key inside [ ]")
                self.advance()
                self.expect_op("]")
            return BodyPath(tuple(steps))
        if not name or "." in name:
            raise self.fail(f"unknown system property {token.text!r}", token)
        return SystemProperty(name)

    def call(self, token: Token) -> Expr:
        name = token.text.upper()
        if name not in FUNCTIONS:
            raise self.fail(f"unknown function {token.text}", token)
        self.expect_op("(")
        args: list[Expr] = []
        if not self.at_op(")"):
            args.append(self.expression())
            while self.at_op(","):
                self.advance()
                args.append(self.expression())
        self.expect_op(")")
        _, low, high = FUNCTIONS[name]
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise self.fail(f"{name} takes {expected} argument(s), got {len(args)}", token)
        return Call(name, tuple(args))


def parse_route(text: str, name: str = "", *, priority: int = 0, ttl_secs: int | None = None) -> Route:
    """Parse one route; ``RouteSyntaxError`` (one line, with the column) for anything wrong."""
    if not isinstance(text, str):
        raise RouteSyntaxError(f"a route must be a string, got {type(text).__name__}", 0, name)
    if len(text) > 64 * 1024:
        raise RouteSyntaxError("route is longer than 64 KiB", 0, name)
    return _Parser(text, name).route(priority, ttl_secs)


__all__ = ["BROKERED_PREFIX", "parse_route"]
