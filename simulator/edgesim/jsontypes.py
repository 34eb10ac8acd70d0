"""JSON as the simulator reads and writes it: one alias for any JSON value, one for an object.

``json.loads`` gives an untyped value; code that keeps the result says ``JSONValue`` / ``JSONObject`` and
narrows with ``isinstance`` before it reads a field. ``JSONLike`` is what callers may hand in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
JSONObject: TypeAlias = "dict[str, JSONValue]"
# What a caller may pass where JSON is written (read-only containers, so ``dict[str, int]`` fits too).
JSONLike: TypeAlias = "bool | int | float | str | Sequence[JSONLike] | Mapping[str, JSONLike] | None"

__all__ = ["JSONLike", "JSONObject", "JSONValue"]
