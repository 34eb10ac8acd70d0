"""Tokens of edgeHub's route grammar, as its ANTLR lexer (GrammarLexer.g4) makes them.

ANTLR takes the longest match at each position and, on a tie, the rule defined first. That is why
``tornado-warning`` is one identifier (identifiers may hold ``-``), why ``3-4`` is an identifier but
``3 - 4`` a subtraction, and why ``-3`` is one number. Keywords are case-insensitive except
``true``, ``false``, ``null`` and ``undefined``, which edgeHub spells in lower case only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgesim.routing.errors import RouteSyntaxError

_ID_EXCLUDED = set('()<>@,;:\\"/[]?={} \t\n\r')
_PATH_EXCLUDED = set('()<>@,;:\\"/?={} \t\n\r')  # a query path may hold [ and ]

# (kind, matcher) in the lexer's rule order; each matcher gives the length it matches at a position.
_WORDS = ("SELECT", "FROM", "WHERE", "INTO")
_CASED_WORDS = (("TRUE", "true"), ("FALSE", "false"), ("NULL", "null"), ("UNDEFINED", "undefined"))
_SYMBOLS = (
    ("(", "("),
    (")", ")"),
    (",", ","),
    ("+", "+"),
    ("-", "-"),
    ("*", "*"),
    ("/", "/"),
    ("%", "%"),
)
_LATE_SYMBOLS = (
    ("=", "="),
    ("!=", "!="),
    ("<>", "<>"),
    ("<=", "<="),
    (">=", ">="),
    (">", ">"),
    ("<", "<"),
    ("||", "||"),
    ("??", "??"),
)
_INTEGER = re.compile(r"-?[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_REAL = re.compile(r"-?[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?|-?[0-9]*[eE][+-]?[0-9]+")
_WS = re.compile(r"[ \t\r\n]+")
_ESCAPE = re.compile(r"\\(?:[\"'\\]|u[0-9a-fA-F]{4})")


@dataclass(frozen=True)
class Token:
    kind: str  # a keyword, a symbol, or STRING, UNTERMINATED_STRING, INTEGER, HEX, REAL, SYS_PROP, ID,
    #            QUERY_PATH, UNKNOWN, EOF
    text: str
    position: int


def _string_length(text: str, i: int) -> tuple[int, bool]:
    """(length, terminated) of a quoted string at ``i``: backslash escapes only, no doubled quotes."""
    quote, j, n = text[i], i + 1, len(text)
    while j < n:
        char = text[j]
        if char == quote:
            return j + 1 - i, True
        if char == "\\":
            escape = _ESCAPE.match(text, j)
            if escape is None:
                break
            j = escape.end()
            continue
        j += 1
    return j - i, False


def _run(text: str, i: int, excluded: set[str]) -> int:
    j = i
    while j < len(text) and text[j] not in excluded:
        j += 1
    return j - i


def _match_at(text: str, i: int) -> tuple[str, int]:
    best_kind, best = "UNKNOWN", 1
    candidates: list[tuple[str, int]] = [("{", 1 if text[i] == "{" else 0), ("}", 1 if text[i] == "}" else 0)]
    for word in _WORDS:
        candidates.append((word, len(word) if text[i : i + len(word)].upper() == word else 0))
    if text[i] in "'\"":
        length, terminated = _string_length(text, i)
        candidates.append(("STRING" if terminated else "UNTERMINATED_STRING", length))
    for kind, pattern in (("INTEGER", _INTEGER), ("HEX", _HEX), ("REAL", _REAL)):
        found = pattern.match(text, i)
        candidates.append((kind, found.end() - i if found else 0))
    for kind, spelling in _CASED_WORDS:
        candidates.append((kind, len(spelling) if text.startswith(spelling, i) else 0))
    for kind, symbol in _SYMBOLS:
        candidates.append((kind, len(symbol) if text.startswith(symbol, i) else 0))
    for word in ("AND", "OR", "NOT"):
        candidates.append((word, len(word) if text[i : i + len(word)].upper() == word else 0))
    for kind, symbol in _LATE_SYMBOLS:
        candidates.append((kind, len(symbol) if text.startswith(symbol, i) else 0))
    if text[i] == "$":
        path = _run(text, i + 1, _PATH_EXCLUDED)
        candidates.append(("SYS_PROP", path + 1 if path else 0))
    candidates.append(("ID", _run(text, i, _ID_EXCLUDED)))
    candidates.append(("QUERY_PATH", _run(text, i, _PATH_EXCLUDED)))
    ws = _WS.match(text, i)
    candidates.append(("WS", ws.end() - i if ws else 0))
    if text.startswith("/*", i):
        end = text.find("*/", i + 2)
        candidates.append(("COMMENT", end + 2 - i if end >= 0 else 0))
    best_kind, best = "UNKNOWN", 1
    longest = max(length for _, length in candidates)
    if longest > 0:
        best_kind, best = next((kind, length) for kind, length in candidates if length == longest)
    return best_kind, best


def tokenize(text: str, route_name: str = "") -> list[Token]:
    """Every token the parser sees (white space and comments dropped), then EOF."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        kind, length = _match_at(text, i)
        if kind not in ("WS", "COMMENT"):
            tokens.append(Token(kind, text[i : i + length], i))
        i += length
    tokens.append(Token("EOF", "", len(text)))
    return tokens


def unescape(body: str) -> str:
    """A string literal's value: ``\\uXXXX`` first, then ``\\"``, ``\\'`` and ``\\\\``, in edgeHub's order."""
    first = re.sub(r"\\[Uu]([0-9A-Fa-f]{4})", lambda m: chr(int(m.group(1), 16)), body)
    return re.sub(r"\\([\"'\\])", lambda m: m.group(1), first)


__all__ = ["RouteSyntaxError", "Token", "tokenize", "unescape"]
