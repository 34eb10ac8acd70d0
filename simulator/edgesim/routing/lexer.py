"""Tokens of the route grammar, with their offsets for exact error positions."""

from __future__ import annotations

from dataclasses import dataclass

from edgesim.routing.errors import RouteSyntaxError

KEYWORDS = {"SELECT", "FROM", "WHERE", "INTO", "AND", "OR", "NOT", "TRUE", "FALSE", "NULL"}
OPERATORS = ("<>", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",", "[", "]")


@dataclass(frozen=True)
class Token:
    kind: str  # "keyword", "name", "sysname", "string", "number", "op", "path", "end"
    text: str
    position: int
    value: object = None


def _dot_continues(text: str, i: int) -> bool:
    # "$body.a.b" is one name: a dot continues it when a name character follows.
    return text[i] == "." and i + 1 < len(text) and (text[i + 1].isalnum() or text[i + 1] == "_")


def tokenize(text: str, route_name: str = "") -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "'\"":
            quote, start, parts = char, i, []
            i += 1
            while True:
                if i >= n:
                    raise RouteSyntaxError("unterminated string", start, route_name)
                if text[i] == quote:
                    if i + 1 < n and text[i + 1] == quote:  # '' escapes a quote, as in SQL
                        parts.append(quote)
                        i += 2
                        continue
                    i += 1
                    break
                parts.append(text[i])
                i += 1
            tokens.append(Token("string", text[start:i], start, "".join(parts)))
            continue
        if char.isdigit() or (char == "." and i + 1 < n and text[i + 1].isdigit()):
            start = i
            while i < n and (text[i].isdigit() or text[i] == "."):
                i += 1
            if i < n and text[i] in "eE":
                i += 1
                if i < n and text[i] in "+-":
                    i += 1
                while i < n and text[i].isdigit():
                    i += 1
            literal = text[start:i]
            try:
                value: float = float(literal)
            except ValueError:
                raise RouteSyntaxError(f"bad number {literal!r}", start, route_name) from None
            tokens.append(Token("number", literal, start, value))
            continue
        if char == "/":
            # A source path: /messages/..., /twinChangeNotifications. In a WHERE clause '/' is
            # division, which always follows an operand; a path never does.
            previous = tokens[-1] if tokens else None
            if previous is None or (previous.kind == "keyword" and previous.text.upper() == "FROM"):
                start = i
                while i < n and not text[i].isspace():
                    i += 1
                tokens.append(Token("path", text[start:i], start))
                continue
        if char == "$" or char.isalpha() or char == "_":
            start = i
            i += 1
            while i < n and (text[i].isalnum() or text[i] == "_" or _dot_continues(text, i)):
                i += 1
            word = text[start:i]
            if word.upper() in KEYWORDS:
                tokens.append(Token("keyword", word.upper(), start))
            elif word.startswith("$"):
                tokens.append(Token("sysname", word, start))
            else:
                tokens.append(Token("name", word, start))
            continue
        for op in OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            raise RouteSyntaxError(f"unexpected character {char!r}", i, route_name)
    tokens.append(Token("end", "", n))
    return tokens
