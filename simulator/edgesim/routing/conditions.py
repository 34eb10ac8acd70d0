"""WHERE conditions compiled as edgeHub's ConditionVisitor compiles them: typed, then evaluated.

Every node has a static type (see ``values``). Operators check their operand types when the route is
compiled, exactly where edgeHub does, so ``3 + 'a'`` or ``key1 > 5`` (application properties are
strings) are refused with the column of the operator, and ``is_defined(key1 + 1)`` never reaches a
message. At run time a missing property is undefined, ``null`` AND anything is null, and a route
delivers only when its condition is ``true``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from edgesim.message import Message
from edgesim.routing.builtins import BUILTINS, TWIN_CHANGE_INCLUDES, Executor, types_match
from edgesim.routing.context import PATH_SEGMENT, EvalContext
from edgesim.routing.errors import RouteSyntaxError
from edgesim.routing.lexer import Token, unescape
from edgesim.routing.syntax import Binary, Call, Empty, Literal, Node, Property, SysProperty, Unary
from edgesim.routing.values import (
    NULL,
    QV_MISSING,
    QV_UNDEFINED,
    TYPE_NAMES,
    UNDEFINED,
    QueryValue,
    StaticType,
    TriBool,
    Value,
    as_number,
    as_query,
    as_tribool,
    bool_rank,
    compare_doubles,
    compare_query,
    compare_strings,
    query_to_bool,
    to_query,
)

Evaluate = Callable[[EvalContext], Value]


@dataclass(frozen=True)
class Typed:
    type: StaticType
    run: Evaluate
    depth: int = 1


def _const(static: StaticType, value: Value) -> Typed:
    return Typed(static, lambda _c: value)


UNDEFINED_NODE = _const("undefined", UNDEFINED)


@dataclass(frozen=True)
class CompileOptions:
    body_queries: bool = True  # edgeHub's Evaluator compiles with every flag on
    twin_change_includes: bool = True
    twin_change_source: bool = False  # the route reads /twinChangeNotifications


class Compiler:
    def __init__(self, name: str, options: CompileOptions) -> None:
        self.name = name
        self.options = options

    def fail(self, message: str, token: Token) -> RouteSyntaxError:
        return RouteSyntaxError(message, token.position, self.name)

    def compile(self, node: Node) -> Typed:
        if isinstance(node, Empty):
            return UNDEFINED_NODE
        if isinstance(node, Literal):
            return self.literal(node.token)
        if isinstance(node, Property):
            name = node.token.text
            return Typed("string", lambda c: c.property(name))
        if isinstance(node, SysProperty):
            return self.sys_property(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Unary):
            return self.unary(node)
        return self.binary(node)

    # ---- leaves --------------------------------------------------------------------------
    def literal(self, token: Token) -> Typed:
        kind, text = token.kind, token.text
        if kind == "STRING":
            return _const("string", unescape(text[1:-1]))
        if kind in ("TRUE", "FALSE"):
            return _const("bool", kind == "TRUE")
        if kind == "NULL":
            return _const("null", NULL)
        if kind == "UNDEFINED":
            return UNDEFINED_NODE
        if kind == "HEX":
            value = int(text[2:], 16)
            return _const("number", float(value)) if value < 2**63 else UNDEFINED_NODE
        return _const("number", float(text))

    def body_query(self, token: Token, path: str) -> Typed:
        if not path:
            raise self.fail("$body query cannot be empty", token)
        if not all(PATH_SEGMENT.fullmatch(part) for part in path.split(".")):
            raise self.fail(f"error in $body query {path!r}: expected name or name[index] separated by dots", token)
        return Typed("query", lambda c: c.query(path))

    def sys_property(self, node: SysProperty) -> Typed:
        text = node.token.text
        name = text[1:]
        is_body = self.options.body_queries and text.lower().startswith("$body.")
        if node.escaped:
            if is_body:
                return self.body_query(node.token, name[len("body.") :])
            return self.system_lookup(name)
        alternative = self.body_query(node.token, name[len("body.") :]) if is_body else UNDEFINED_NODE
        if "[" in text or "]" in text:
            return alternative
        if not is_body:
            alternative = self.system_lookup(name)
        # An application property spelled "$name" wins over the system property (or the body path).
        own = text
        fallback = alternative.run
        if is_body:

            def body_or_property(c: EvalContext) -> Value:
                value = c.property(own)
                return fallback(c) if value is UNDEFINED else QueryValue("string", value)

            return Typed("query", body_or_property)

        def property_or_system(c: EvalContext) -> Value:
            value = c.property(own)
            return fallback(c) if value is UNDEFINED else value

        return Typed("string", property_or_system)

    @staticmethod
    def system_lookup(name: str) -> Typed:
        if "[" in name or "]" in name:
            return UNDEFINED_NODE
        return Typed("string", lambda c: c.system(name))

    # ---- functions -----------------------------------------------------------------------
    def call(self, node: Call) -> Typed:
        name = node.name.text.lower()
        if name == TWIN_CHANGE_INCLUDES and self.options.twin_change_includes and self.options.twin_change_source:
            return self.twin_change_includes(node)
        executors = BUILTINS.get(name)
        if executors is None:
            raise self.fail(f"Invalid built-in function '{node.name.text}'", node.name)
        args = [self.compile(arg) for arg in node.args]
        return self.apply(node.name, executors, args)

    def apply(self, token: Token, executors: tuple[Executor, ...], args: list[Typed]) -> Typed:
        types = [a.type for a in args]
        executor = next((ex for ex in executors if ex.matches(types)), None)
        if executor is None:
            given = ", ".join(TYPE_NAMES[t] for t in types)
            raise self.fail(f"Invalid arguments to built-in function '{token.text}': {token.text}({given})", token)
        runs = [a.run for a in args]
        depth = 1 + max((a.depth for a in args), default=0)
        run_fn = executor.run
        if executor.query_values:
            pairs = list(zip(types, runs, strict=True))
            return Typed(executor.result, lambda c: run_fn(*(to_query(t, r(c)) for t, r in pairs)), depth)
        return Typed(executor.result, lambda c: run_fn(*(r(c) for r in runs)), depth)

    def twin_change_includes(self, node: Call) -> Typed:
        path = node.args_text
        if not path:
            raise self.fail("twin_change_includes argument cannot be empty", node.name)
        query = self.body_query(node.name, path[len("$body.") :] if path.lower().startswith("$body.") else path)

        def includes(c: EvalContext) -> Value:
            value = as_query(query.run(c))
            if value is QV_MISSING:
                return False
            return UNDEFINED if value.kind == "none" else True

        return Typed("bool", includes)

    # ---- operators -----------------------------------------------------------------------
    def operand_error(
        self, token: Token, expected: tuple[StaticType, ...], given: tuple[StaticType, ...]
    ) -> RouteSyntaxError:
        arity = "unary " if len(expected) == 1 else "binary "
        have = " and ".join(f"'{TYPE_NAMES[t]}'" for t in given)
        want = " and ".join(f"'{TYPE_NAMES[t]}'" for t in expected)
        return self.fail(f"Invalid operands to {arity}operator '{token.text}': have {have}, expected {want}", token)

    def unary(self, node: Unary) -> Typed:
        operand = self.compile(node.operand)
        run, depth = operand.run, operand.depth + 1
        if node.op.kind == "-":
            if operand.type != "number":
                # a $body value passes the type check but has no unary minus: edgeHub fails to build it
                raise self.operand_error(node.op, ("number",), (operand.type,))
            return Typed("number", lambda c: -as_number(run(c)), depth)
        expected: StaticType = "null" if operand.type == "null" else "bool"
        if not types_match(expected, operand.type, True):
            raise self.operand_error(node.op, (expected,), (operand.type,))
        if operand.type == "null":
            return Typed("bool", lambda _c: True, depth)
        if operand.type == "query":

            def not_query(c: EvalContext) -> Value:
                value = as_query(run(c))
                return (not value.value) if value.kind == "bool" else UNDEFINED

            return Typed("bool", not_query, depth)
        return Typed("bool", lambda c: _not(run(c)), depth)

    def binary(self, node: Binary) -> Typed:
        left, right = self.compile(node.left), self.compile(node.right)
        op = node.op
        depth = 1 + max(left.depth, right.depth)
        if op.kind in ("AND", "OR"):
            return self.logical(op, left, right, depth)
        if op.kind in ("*", "/", "%", "+", "-"):
            self.check(op, "number", left, right)
            return self.arithmetic(op, left, right, depth)
        if op.kind == "||":
            self.check(op, "string", left, right)
            return self.apply(op, BUILTINS["concat"], [left, right])
        if op.kind == "??":
            return self.coalesce(op, left, right, depth)
        self.check(op, left.type, left, right)
        return self.comparison(op, left, right, depth)

    def check(self, op: Token, expected: StaticType, left: Typed, right: Typed) -> None:
        if not (types_match(expected, left.type, True) and types_match(expected, right.type, True)):
            raise self.operand_error(op, (expected, expected), (left.type, right.type))

    def arithmetic(self, op: Token, left: Typed, right: Typed, depth: int) -> Typed:
        a, b = left.run, right.run
        kind = op.kind
        if "query" in (left.type, right.type):
            if kind == "%":
                raise self.fail("operator '%' is not defined for $body values", op)
            lt, rt = left.type, right.type

            def query_arith(c: EvalContext) -> Value:
                x, y = to_query(lt, a(c)), to_query(rt, b(c))
                if (
                    x.kind == "double"
                    and y.kind == "double"
                    and isinstance(x.value, float)
                    and isinstance(y.value, float)
                ):
                    return QueryValue("double", _double_op(kind, x.value, y.value))
                return QV_UNDEFINED

            return Typed("query", query_arith, depth)
        return Typed("number", lambda c: _double_op(kind, as_number(a(c)), as_number(b(c))), depth)

    def comparison(self, op: Token, left: Typed, right: Typed, depth: int) -> Typed:
        a, b = left.run, right.run
        test = _COMPARE[op.kind]
        lt, rt = left.type, right.type
        if "query" in (lt, rt):

            def query_compare(c: EvalContext) -> Value:
                x, y = to_query(lt, a(c)), to_query(rt, b(c))
                if x.kind == "none" or y.kind == "none":
                    return UNDEFINED
                return test(compare_query(x, y))

            return Typed("bool", query_compare, depth)
        if lt == "null":
            return Typed("bool", lambda _c: test(0), depth)
        if lt == "undefined":
            return UNDEFINED_NODE
        if lt == "number":

            def number_compare(c: EvalContext) -> Value:
                x, y = as_number(a(c)), as_number(b(c))
                return UNDEFINED if math.isnan(x) or math.isnan(y) else test(compare_doubles(x, y))

            return Typed("bool", number_compare, depth)
        if lt == "string":

            def string_compare(c: EvalContext) -> Value:
                x, y = a(c), b(c)
                if not isinstance(x, str) or not isinstance(y, str):  # UNDEFINED, or a null string
                    return UNDEFINED
                return test(compare_strings(x, y))

            return Typed("bool", string_compare, depth)

        def bool_compare(c: EvalContext) -> Value:
            x, y = a(c), b(c)
            return UNDEFINED if x is UNDEFINED or y is UNDEFINED else test(bool_rank(x) - bool_rank(y))

        return Typed("bool", bool_compare, depth)

    def logical(self, op: Token, left: Typed, right: Typed, depth: int) -> Typed:
        booleans = ("null", "bool", "undefined", "query")
        # edgeHub checks the right operand against the left's type for $body values (a bug we keep):
        # `$body.flag AND x` takes anything on the right, `x AND $body.flag` is refused.
        if left.type not in booleans or not (right.type in booleans[:3] or left.type == "query"):
            raise self.operand_error(op, ("bool", "bool"), (left.type, right.type))
        is_and = op.kind == "AND"
        a, b = left.run, right.run
        lt, rt = left.type, right.type
        if lt == "query" or rt == "query":
            if (is_and and "null" in (lt, rt)) or (not is_and and lt == rt == "null"):
                raise self.fail(f"operator '{op.text}' cannot combine a $body value with null", op)

            def query_logic(c: EvalContext) -> Value:
                x, y = to_query(lt, a(c)), to_query(rt, b(c))
                if x.kind == "bool" and y.kind == "bool":
                    return _and(x.value, y.value) if is_and else _or(x.value, y.value)
                return UNDEFINED

            return Typed("bool", query_logic, depth)
        if {lt, rt} == {"null", "undefined"}:
            raise self.fail(f"operator '{op.text}' is not defined for null and undefined", op)
        if lt == "null" or rt == "null":
            if is_and or lt == rt:
                return Typed("null", lambda _c: NULL, depth)
            other = b if lt == "null" else a
            return Typed("bool", other, depth)
        if is_and:
            return Typed("bool", lambda c: _and(a(c), b(c)), depth)
        return Typed("bool", lambda c: _or(a(c), b(c)), depth)

    def coalesce(self, op: Token, left: Typed, right: Typed, depth: int) -> Typed:
        self.check(op, left.type, left, right)
        if left.type == "undefined":
            return right
        a, b = left.run, right.run
        defined = self.apply(op, BUILTINS["is_defined"], [left]).run
        if "query" in (left.type, right.type):
            lt, rt = left.type, right.type

            def query_coalesce(c: EvalContext) -> Value:
                x = to_query(lt, a(c))
                return x if x.kind != "none" else to_query(rt, b(c))

            return Typed("query", query_coalesce, depth)
        return Typed(left.type, lambda c: a(c) if defined(c) is True else b(c), depth)


def _not(value: Value) -> TriBool:
    return UNDEFINED if value is UNDEFINED else not value


def _and(x: object, y: object) -> TriBool:
    if x is False or y is False:
        return False
    if x is UNDEFINED or y is UNDEFINED:
        return UNDEFINED
    return True


def _or(x: object, y: object) -> TriBool:
    if x is True or y is True:
        return True
    if x is UNDEFINED or y is UNDEFINED:
        return UNDEFINED
    return False


def _double_op(kind: str, x: float, y: float) -> float:
    if kind == "+":
        return x + y
    if kind == "-":
        return x - y
    if kind == "*":
        return x * y
    if kind == "/":
        if y == 0:
            if x == 0 or math.isnan(x):
                return math.nan
            return math.copysign(math.inf, x) * math.copysign(1.0, y)
        return x / y
    if y == 0 or math.isinf(x) or math.isnan(x) or math.isnan(y):
        return math.nan
    return math.fmod(x, y) if not math.isinf(y) else x


_COMPARE: dict[str, Callable[[int], bool]] = {
    "=": lambda r: r == 0,
    "!=": lambda r: r != 0,
    "<>": lambda r: r != 0,
    "<": lambda r: r < 0,
    "<=": lambda r: r <= 0,
    ">": lambda r: r > 0,
    ">=": lambda r: r >= 0,
}


class Condition:
    """A compiled condition: ``evaluate`` gives True, False or UNDEFINED, as edgeHub's Bool."""

    def __init__(self, text: str, typed: Typed) -> None:
        self.text = text
        self.type = typed.type
        self._run = typed.run

    def evaluate(self, context: EvalContext) -> TriBool:
        value = self._run(context)
        if self.type == "bool":
            return as_tribool(value)
        if self.type == "null":
            return False  # (Bool)Null is False
        if self.type == "query":
            return query_to_bool(as_query(value))
        return UNDEFINED  # numbers and strings convert to Bool.Undefined

    def matches(self, message: Message) -> bool:
        return self.evaluate(EvalContext(message)) is True


def compile_condition(text: str, name: str = "", options: CompileOptions | None = None) -> Condition:
    """Compile a condition on its own, as edgeHub's RouteCompiler does (for a route's WHERE, and tests)."""
    from edgesim.routing.parser import parse_condition_syntax

    if len(text) > 64 * 1024:
        raise RouteSyntaxError("condition is longer than 64 KiB", 0, name)
    node = parse_condition_syntax(text, name)
    return Condition(text, Compiler(name, options or CompileOptions()).compile(node))


def compile_node(text: str, node: Node, name: str, options: CompileOptions) -> Condition:
    return Condition(text, Compiler(name, options).compile(node))


__all__ = ["UNDEFINED", "CompileOptions", "Condition", "EvalContext", "compile_condition", "compile_node"]
