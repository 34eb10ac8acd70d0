"""UTC timestamps as edgeship writes them: ISO 8601 with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_timestamp(*, microseconds: bool = False) -> str:
    """``2026-12-01T23:05:12Z``, or ``2026-12-01T23:05:12.123456Z`` with ``microseconds``.

    The registry keeps microseconds: its existing databases hold them, and ``model show`` prints
    the stored value as it is.
    """
    spec = "%Y-%m-%dT%H:%M:%S.%fZ" if microseconds else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.now(UTC).strftime(spec)
