"""The .env subset: what it reads and how it refuses the rest (with the line number)."""

from __future__ import annotations

import pytest

from edgeship.manifest import ManifestSyntaxError, parse_dotenv


def test_reads_the_supported_forms() -> None:
    text = (
        "# a comment\n\nPLAIN=value\nexport EXPORTED = spaced value   # trailing comment\nSINGLE='it''s'\n".replace(
            "'it''s'", "'lit $HOME \\n'"
        )
        + 'DOUBLE="line\\nnext \\"quoted\\" # not a comment"  # comment\n'
        "EMPTY=\n"
        "HASH=a#b\n"
        "PLAIN=again\n"
    )
    assert parse_dotenv(text) == {
        "PLAIN": "again",
        "EXPORTED": "spaced value",
        "SINGLE": "lit $HOME \\n",
        "DOUBLE": 'line\nnext "quoted" # not a comment',
        "EMPTY": "",
        "HASH": "a#b",
    }


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("OK=1\n1BAD=2\n", 2, 1, "expected NAME=value"),
        ("OK=1\nNOEQUALS\n", 2, 9, "expected '=' after NOEQUALS"),
        ('A="open\n', 1, 3, "unterminated double-quoted value"),
        ("A='open\n", 1, 3, "unterminated single-quoted value"),
        ('A="x" y\n', 1, 7, "unexpected text after the closing quote"),
        ('A="\\q"\n', 1, 4, "unknown escape"),
    ],
)
def test_refuses_with_line_and_column(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ManifestSyntaxError) as caught:
        parse_dotenv(text, "my.env")
    assert (caught.value.position.file, caught.value.position.line, caught.value.position.column) == (
        "my.env",
        line,
        column,
    )
    assert message in caught.value.message
