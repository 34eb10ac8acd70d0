"""A strict reader of the ``.env`` subset iotedgedev projects use.

Supported: ``KEY=value``, ``export KEY=value``, blank lines, ``#`` comments (whole lines, or after
whitespace behind an unquoted value), ``'single quoted'`` (literal) and ``"double quoted"`` values
(escapes ``\\n \\t \\r \\" \\\\ \\$``). Not supported, and refused with the line number rather than
guessed: multi-line values, unterminated quotes, text after a closing quote, keys that are not
shell names. No interpolation inside ``.env``: the template is where variables are expanded.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgeship.manifest.problems import ManifestSyntaxError, Position

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def _fail(source: str, line: int, column: int, message: str) -> ManifestSyntaxError:
    return ManifestSyntaxError(Position(source, line, column), message)


def _double_quoted(body: str, source: str, line: int, column: int) -> tuple[str, int]:
    """Decode from just after the opening quote; returns the value and the index after the closing quote."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            escape = body[i + 1 : i + 2]
            if escape not in _DOUBLE_ESCAPES:
                raise _fail(source, line, column + i, f"unknown escape '\\{escape}' in a double-quoted value")
            out.append(_DOUBLE_ESCAPES[escape])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise _fail(source, line, column - 1, "unterminated double-quoted value (multi-line values are not supported)")


def _value(raw: str, source: str, line: int, column: int) -> str:
    """``raw`` is everything after ``=``; ``column`` is where it starts (1-based)."""
    stripped = raw.lstrip(" \t")
    column += len(raw) - len(stripped)
    if stripped.startswith(("'", '"')):
        quote = stripped[0]
        if quote == "'":
            end = stripped.find("'", 1)
            if end < 0:
                raise _fail(
                    source, line, column, "unterminated single-quoted value (multi-line values are not supported)"
                )
            value, after = stripped[1:end], end + 1
        else:
            value, consumed = _double_quoted(stripped[1:], source, line, column + 1)
            after = consumed + 1
        rest = stripped[after:]
        if rest.strip(" \t") and not rest.lstrip(" \t").startswith("#"):
            gap = len(rest) - len(rest.lstrip(" \t"))
            raise _fail(source, line, column + after + gap, "unexpected text after the closing quote")
        return value
    comment = re.search(r"[ \t]#", stripped)
    if stripped.startswith("#"):
        return ""
    return (stripped[: comment.start()] if comment else stripped).rstrip(" \t")


def parse_dotenv(text: str, source: str = ".env") -> dict[str, str]:
    """Parse ``.env`` text; a later assignment of a key replaces an earlier one (as in a shell)."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.lstrip(" \t")
        column = len(line) - len(content) + 1
        if not content or content.startswith("#"):
            continue
        if content.startswith(("export ", "export\t")):
            after = content[len("export") :]
            rest = after.lstrip(" \t")
            column += len(content) - len(rest)
            content = rest
        key_match = _KEY.match(content)
        if not key_match:
            raise _fail(
                source, number, column, "expected NAME=value (NAME: letters, digits and '_', not starting with a digit)"
            )
        key = key_match.group(0)
        after_key = content[key_match.end() :].lstrip(" \t")
        if not after_key.startswith("="):
            raise _fail(source, number, column + key_match.end(), f"expected '=' after {key}")
        equals = column + len(content) - len(after_key)
        values[key] = _value(after_key[1:], source, number, equals + 1)
    return values


def load_dotenv(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestSyntaxError(Position(str(path), 1, 1), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ManifestSyntaxError(Position(str(path), 1, 1), f"not UTF-8 text ({exc.reason})") from None
    return parse_dotenv(text, str(path))
