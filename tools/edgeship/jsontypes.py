"""The JSON value types edgeship reads and writes, for annotations of parsed JSON.

``JSONValue`` is what ``json.loads`` returns; code that reads by key narrows it with
``isinstance`` (a document from a user may hold anything). ``JSONObject`` is one object.
"""

from __future__ import annotations

from typing import TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
JSONObject: TypeAlias = dict[str, JSONValue]
