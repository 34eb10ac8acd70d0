"""The parse tree of a condition: what the parser builds and the compiler type-checks."""

from __future__ import annotations

from dataclasses import dataclass

from edgesim.routing.lexer import Token


@dataclass(frozen=True)
class Literal:
    token: Token  # STRING, INTEGER, HEX, REAL, TRUE, FALSE, NULL or UNDEFINED


@dataclass(frozen=True)
class Property:
    token: Token  # ID: an application property


@dataclass(frozen=True)
class SysProperty:
    token: Token  # SYS_PROP: $name, or $body.path
    escaped: bool = False  # {$name}: a system property only, never the application property "$name"


@dataclass(frozen=True)
class Call:
    name: Token
    args: tuple[Node, ...]
    args_text: str  # the argument list as written (twin_change_includes reads it as a path)
    depth: int = 1


@dataclass(frozen=True)
class Unary:
    op: Token  # - or NOT
    operand: Node
    depth: int = 1


@dataclass(frozen=True)
class Binary:
    op: Token
    left: Node
    right: Node
    depth: int = 1


@dataclass(frozen=True)
class Empty:
    """An empty condition: edgeHub compiles it to undefined."""


Node = Literal | Property | SysProperty | Call | Unary | Binary | Empty


def depth(node: Node) -> int:
    return node.depth if isinstance(node, Binary | Unary | Call) else 1
