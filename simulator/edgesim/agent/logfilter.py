"""GetModuleLogs' filters over the simulator's module logs: tail, since, until, loglevel, regex.

Read from edgeAgent (``LogsRequestToOptionsMapper``, ``LogsProcessor``, ``LogMessageParser``),
not copied. A line's log level is its syslog prefix (``<3> text``), 6 when it has none. Docker
stamps every line with a time; a module's log file here does not, so a line's time is that of the
agent's last ``--- edgesim <time>:`` line before it (the start of its run, or an exit): ``since``
and ``until`` select runs, not seconds within a run. The order of the filters is edgeAgent's:
since / until and tail first (Docker applies them), then log level and regex.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from edgesim.errors import SimulatorError

DEFAULT_LOG_LEVEL = 6
_LEVEL = re.compile(r"^\s*<(?P<level>\d)>\s*(?P<text>.*)$", re.DOTALL)
_AGENT_LINE = re.compile(r"^--- edgesim (?P<time>\S+): ")
_DURATION_PART = re.compile(
    r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>days?|d|hours?|h|minutes?|mins?|m|seconds?|secs?|s)\b", re.IGNORECASE
)
_UNIT_SECS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class LogFilterError(SimulatorError):
    """A GetModuleLogs filter that cannot be applied (edgeAgent answers 400)."""


@dataclass(frozen=True)
class LogLine:
    text: str  # without the level prefix
    raw: str
    level: int
    time: float | None  # seconds since the epoch, from the agent line before it


@dataclass(frozen=True)
class LogFilter:
    tail: int | None = None
    since: float | None = None
    until: float | None = None
    loglevel: int | None = None
    regex: re.Pattern[str] | None = None

    @classmethod
    def from_json(cls, data: object, now: float) -> LogFilter:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise LogFilterError("filter must be a JSON object")
        tail = data.get("tail")
        if tail is not None and (not isinstance(tail, int) or isinstance(tail, bool) or tail < 0):
            raise LogFilterError("filter.tail must be a non-negative integer")
        level = data.get("loglevel")
        if level is not None and (not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 7):
            raise LogFilterError("filter.loglevel must be an integer from 0 to 7")
        pattern = data.get("regex")
        regex = None
        if pattern is not None:
            if not isinstance(pattern, str):
                raise LogFilterError("filter.regex must be a string")
            try:
                regex = re.compile(pattern)
            except re.error as exc:
                raise LogFilterError(f"filter.regex is not a regular expression: {exc}") from None
        return cls(
            tail=tail,
            since=parse_time(data.get("since"), now, "since"),
            until=parse_time(data.get("until"), now, "until"),
            loglevel=level,
            regex=regex,
        )

    def apply(self, lines: list[LogLine]) -> list[LogLine]:
        selected = [
            line
            for line in lines
            if (self.since is None or (line.time is not None and line.time >= self.since))
            and (self.until is None or (line.time is not None and line.time <= self.until))
        ]
        if self.tail is not None:
            selected = selected[len(selected) - self.tail :] if self.tail else []
        if self.loglevel is not None:
            selected = [line for line in selected if line.level == self.loglevel]
        if self.regex is not None:
            regex = self.regex
            selected = [line for line in selected if regex.search(line.text)]
        return selected


def parse_time(value: object, now: float, what: str) -> float | None:
    """Docker's ``since`` / ``until``: a UNIX timestamp, an RFC 3339 time, or a duration before now
    (``90 m``, ``1 d``, ``2 days 3 hours 2 minutes``)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise LogFilterError(f"filter.{what} must be a timestamp or a duration")
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    parts = list(_DURATION_PART.finditer(text))
    if not parts or _DURATION_PART.sub("", text).strip(" ,"):
        raise LogFilterError(f"filter.{what}: {value!r} is neither a timestamp nor a duration")
    seconds = sum(float(part["n"]) * _UNIT_SECS[part["unit"][0].lower()] for part in parts)
    return now - seconds


def _agent_time(raw: str) -> float | None:
    match = _AGENT_LINE.match(raw)
    if match is None:
        return None
    try:
        return datetime.datetime.fromisoformat(match["time"].replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_lines(text: str) -> list[LogLine]:
    lines: list[LogLine] = []
    current: float | None = None
    for raw in text.splitlines():
        stamp = _agent_time(raw)
        if stamp is not None:
            current = stamp
        match = _LEVEL.match(raw)
        level, body = (int(match["level"]), match["text"]) if match else (DEFAULT_LOG_LEVEL, raw)
        lines.append(LogLine(body, raw, level, current))
    return lines


def matching_ids(pattern: str, names: Iterable[str]) -> list[str]:
    """edgeAgent's item id: ``all`` or a regular expression searched in each name, ignoring case."""
    if pattern.lower() == "all":
        return list(names)
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise LogFilterError(f"id {pattern!r} is not a regular expression: {exc}") from None
    return [name for name in names if regex.search(name)]
