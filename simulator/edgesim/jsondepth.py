"""How deeply a JSON value nests, checked without recursion (no imports: the deployment reader uses it too)."""

from __future__ import annotations

from collections.abc import Mapping

MAX_DEPTH = 100  # nesting levels of a patch: keeps the recursive merge and copies far from Python's stack limit


class TwinPatchError(ValueError):
    """A patch the twin refuses (nested deeper than ``MAX_DEPTH``)."""


def check_depth(value: object, limit: int = MAX_DEPTH) -> None:
    """Raise ``TwinPatchError`` when objects / arrays in ``value`` nest deeper than ``limit`` (iteratively)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping | list):
            if depth > limit:
                raise TwinPatchError(f"the patch nests deeper than {limit} levels")
            children = item.values() if isinstance(item, Mapping) else item
            pending.extend((child, depth + 1) for child in children)
