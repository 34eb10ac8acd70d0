"""A message as a WHERE condition reads it: properties by name, ignoring case, and ``$body`` queries.

``EvalContext`` parses a JSON body at most once, whatever the routes, and selects ``$body`` paths the way
edgeHub's BodyQuery does (Newtonsoft's SelectTokens); ``conditions`` compiles conditions that read it.
"""

from __future__ import annotations

import json
import re

from edgesim.jsontypes import JSONObject, JSONValue
from edgesim.message import Message
from edgesim.routing.values import NULL, QV_MISSING, QV_UNDEFINED, UNDEFINED, QueryValue, Undefined

ENCODINGS = {"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
PATH_SEGMENT = re.compile(r"([^()<>@,;:\\\"/\[\]?={}.\t\n\r]+)(?:\[([0-9]+)\])?")


class EvalContext:
    """A message as a condition reads it: case-insensitive property names (edgeHub's dictionaries use
    OrdinalIgnoreCase) and a JSON body parsed at most once, whatever the routes."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self.properties = {str(k).lower(): v for k, v in message.properties.items()}
        self.system_properties = {str(k).lower(): v for k, v in message.system_properties.items()}
        self._body: JSONObject | Undefined = UNDEFINED
        self._body_read = False

    def property(self, name: str) -> str | Undefined:
        return self.properties.get(name.lower(), UNDEFINED)

    def system(self, name: str) -> str | Undefined:
        return self.system_properties.get(name.lower(), UNDEFINED)

    def body(self) -> JSONObject | Undefined:
        """The parsed JSON object, or UNDEFINED when edgeHub could not query the body (it logs the error
        and the query is undefined): content type not exactly application/json, no or an unknown content
        encoding, or a body that is not a JSON object."""
        if not self._body_read:
            self._body_read = True
            content_type = self.system("contentType")
            encoding = ENCODINGS.get(str(self.system("contentEncoding")).lower())
            if isinstance(content_type, str) and content_type.lower() == "application/json" and encoding:
                try:
                    parsed = json.loads(self.message.body.decode(encoding, errors="replace"))
                except (ValueError, RecursionError):
                    parsed = UNDEFINED
                self._body = parsed if isinstance(parsed, dict) else UNDEFINED
        return self._body

    def query(self, path: str) -> QueryValue:
        """Newtonsoft's SelectTokens on the body: nothing selected is QueryValue.Null (MISSING), a
        value is typed, an object, an array or several matches are undefined."""
        body = self.body()
        if body is UNDEFINED:
            return QV_UNDEFINED
        nodes: list[JSONValue] = [body]
        for segment in path.split("."):
            found = PATH_SEGMENT.fullmatch(segment)
            if found is None:
                return QV_UNDEFINED
            key, index = found.group(1), found.group(2)
            selected: list[JSONValue] = []
            for node in nodes:
                if not isinstance(node, dict):
                    # BodyQueryTest: a name after a value that is not an object is undefined, not null
                    return QV_UNDEFINED
                if key == "*":
                    selected.extend(node.values())
                elif key in node:
                    selected.append(node[key])
            if index is not None:
                selected = [n[int(index)] for n in selected if isinstance(n, list) and int(index) < len(n)]
            nodes = selected
        if not nodes:
            return QV_MISSING
        if len(nodes) > 1:
            return QV_UNDEFINED
        return _json_value(nodes[0])


def _json_value(value: JSONValue) -> QueryValue:
    if value is None:
        return QueryValue("null", NULL)  # a new object: not QV_MISSING
    if isinstance(value, bool):
        return QueryValue("bool", value)
    if isinstance(value, int | float):
        return QueryValue("double", float(value))
    if isinstance(value, str):
        # Newtonsoft reads ISO 8601 date strings as dates, which edgeHub's QueryValue keeps as objects
        return QV_UNDEFINED if _ISO_DATE.match(value) else QueryValue("string", value)
    return QV_UNDEFINED  # objects and arrays: BodyQuery gives undefined for them


__all__ = ["ENCODINGS", "PATH_SEGMENT", "EvalContext"]
