"""A small JSON parser that remembers where every value and key starts.

``json.loads`` throws positions away, but a validator has to point at ``file:line:col``. This
parser accepts exactly what ``json.loads`` accepts (including ``NaN``/``Infinity`` and duplicate
keys, last one wins; a property test checks the agreement) and records, for every JSON path, the
position of the value and of its key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edgeship.jsontypes import JSONObject, JSONScalar, JSONValue
from edgeship.manifest.problems import JsonPath, ManifestSyntaxError, Position

_WHITESPACE = " \t\n\r"
MAX_DEPTH = 200
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_CONSTANTS: tuple[tuple[str, JSONScalar], ...] = (
    ("null", None),
    ("true", True),
    ("false", False),
    ("NaN", float("nan")),
    ("Infinity", float("inf")),
    ("-Infinity", float("-inf")),
)


@dataclass
class Document:
    """A parsed JSON text: the plain value plus where each path starts."""

    value: JSONValue
    source: str
    text: str
    values: dict[JsonPath, int] = field(default_factory=dict)  # path -> offset of the value
    keys: dict[JsonPath, int] = field(default_factory=dict)  # path -> offset of its key string
    duplicates: list[tuple[JsonPath, int]] = field(default_factory=list)  # repeated keys (json.loads keeps the last)
    _line_starts: list[int] = field(default_factory=list)

    def position_of_offset(self, offset: int) -> Position:
        if not self._line_starts:
            self._line_starts = [0] + [i + 1 for i, ch in enumerate(self.text) if ch == "\n"]
        lo, hi = 0, len(self._line_starts) - 1
        while lo < hi:  # the last line start <= offset
            mid = (lo + hi + 1) // 2
            if self._line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return Position(self.source, lo + 1, offset - self._line_starts[lo] + 1)

    def locate(self, path: JsonPath, *, key: bool = False) -> Position:
        """Where ``path`` is, or its nearest ancestor that exists (a missing member points at its parent)."""
        probe = path
        while True:
            table = self.keys if key and probe in self.keys else self.values
            if probe in table:
                return self.position_of_offset(table[probe])
            if not probe:
                return Position(self.source, 1, 1)
            probe = probe[:-1]
            key = False

    def string_offset(self, path: JsonPath, index: int) -> Position:
        """Where character ``index`` of the decoded string at ``path`` sits in the raw text."""
        start = self.values.get(path)
        if start is None or start >= len(self.text) or self.text[start] != '"':
            return self.locate(path)
        raw = start + 1
        for _ in range(index):
            if raw >= len(self.text) or self.text[raw] == '"':
                break
            if self.text[raw] == "\\":
                raw += 6 if self.text[raw + 1 : raw + 2] == "u" else 2
            else:
                raw += 1
        return self.position_of_offset(raw)


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.doc = Document(value=None, source=source, text=text)

    def fail(self, offset: int, message: str) -> ManifestSyntaxError:
        return ManifestSyntaxError(self.doc.position_of_offset(offset), f"invalid JSON: {message}")

    def skip(self, offset: int) -> int:
        while offset < len(self.text) and self.text[offset] in _WHITESPACE:
            offset += 1
        return offset

    def parse(self) -> Document:
        if self.text.startswith("\ufeff"):
            raise self.fail(0, "unexpected UTF-8 byte order mark")
        value, end = self.value(self.skip(0), ())
        end = self.skip(end)
        if end != len(self.text):
            raise self.fail(end, "extra data after the document")
        self.doc.value = value
        return self.doc

    def value(self, offset: int, path: JsonPath) -> tuple[JSONValue, int]:
        # Manifests are shallow (IoT Hub allows 10 levels of twin properties): a deeper document is a
        # clean error here rather than a RecursionError; the one place this parser is stricter than json.loads.
        if len(path) > MAX_DEPTH:
            raise self.fail(offset, f"nesting deeper than {MAX_DEPTH} levels")
        self.doc.values[path] = offset
        if offset >= len(self.text):
            raise self.fail(offset, "expected a value, got the end of the text")
        ch = self.text[offset]
        if ch == "{":
            return self.object(offset, path)
        if ch == "[":
            return self.array(offset, path)
        if ch == '"':
            return self.string(offset)
        for word, constant in _CONSTANTS:
            if self.text.startswith(word, offset):
                return constant, offset + len(word)
        match = _NUMBER.match(self.text, offset)
        if match:
            number = match.group(0)
            if match.group(1) or match.group(2):
                return float(number), match.end()
            try:
                return int(number), match.end()
            except ValueError:  # more digits than int() accepts (sys.set_int_max_str_digits)
                raise self.fail(offset, "integer too long") from None
        raise self.fail(offset, f"expected a value, got {ch!r}")

    def object(self, offset: int, path: JsonPath) -> tuple[JSONObject, int]:
        result: JSONObject = {}
        offset = self.skip(offset + 1)
        if offset < len(self.text) and self.text[offset] == "}":
            return result, offset + 1
        while True:
            if offset >= len(self.text) or self.text[offset] != '"':
                raise self.fail(offset, "expected a property name in double quotes")
            key_offset = offset
            key, offset = self.string(offset)
            offset = self.skip(offset)
            if offset >= len(self.text) or self.text[offset] != ":":
                raise self.fail(offset, "expected ':' after a property name")
            child = (*path, key)
            if key in result:
                self.doc.duplicates.append((child, key_offset))
            self.doc.keys[child] = key_offset
            result[key], offset = self.value(self.skip(offset + 1), child)
            offset = self.skip(offset)
            if offset < len(self.text) and self.text[offset] == "}":
                return result, offset + 1
            if offset >= len(self.text) or self.text[offset] != ",":
                raise self.fail(offset, "expected ',' or '}' in an object")
            offset = self.skip(offset + 1)

    def array(self, offset: int, path: JsonPath) -> tuple[list[JSONValue], int]:
        result: list[JSONValue] = []
        offset = self.skip(offset + 1)
        if offset < len(self.text) and self.text[offset] == "]":
            return result, offset + 1
        while True:
            item, offset = self.value(offset, (*path, len(result)))
            result.append(item)
            offset = self.skip(offset)
            if offset < len(self.text) and self.text[offset] == "]":
                return result, offset + 1
            if offset >= len(self.text) or self.text[offset] != ",":
                raise self.fail(offset, "expected ',' or ']' in an array")
            offset = self.skip(offset + 1)

    def hex4(self, offset: int) -> int:
        digits = self.text[offset : offset + 4]
        if len(digits) != 4 or not all(ch in _HEX for ch in digits):
            raise self.fail(offset - 2, "invalid \\u escape")
        return int(digits, 16)

    def string(self, offset: int) -> tuple[str, int]:
        parts: list[str] = []
        start = offset
        offset += 1
        while True:
            end = offset
            while end < len(self.text) and self.text[end] not in '"\\' and self.text[end] >= " ":
                end += 1
            parts.append(self.text[offset:end])
            if end >= len(self.text):
                raise self.fail(start, "unterminated string")
            ch = self.text[end]
            if ch == '"':
                return "".join(parts), end + 1
            if ch != "\\":
                raise self.fail(end, "control character in a string")
            escape = self.text[end + 1 : end + 2]
            if escape == "u":
                code = self.hex4(end + 2)
                offset = end + 6
                # A high surrogate followed by an escaped low one is one character (as json.loads does).
                if 0xD800 <= code <= 0xDBFF and self.text[offset : offset + 2] == "\\u":
                    low = self.hex4(offset + 2)
                    if 0xDC00 <= low <= 0xDFFF:
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        offset += 6
                parts.append(chr(code))
            elif escape in _ESCAPES:
                parts.append(_ESCAPES[escape])
                offset = end + 2
            else:
                raise self.fail(end, "invalid escape in a string")


def parse_json(text: str, source: str) -> Document:
    """Parse ``text``; ``ManifestSyntaxError`` (with file, line, column) if ``json.loads`` would refuse it."""
    return _Parser(text, source).parse()
