"""The hub's counters, typed: what ``stats()``, ``sim status`` and the tests read by name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NotRequired, TypedDict


@dataclass
class HubCounters:
    """Counted since the hub started (``expired`` also goes to the store, which keeps it across restarts)."""

    received: int = 0
    routed: int = 0
    unrouted: int = 0
    delivered: int = 0
    expired: int = 0
    rejected: int = 0
    upstream: int = 0
    auth_failures: int = 0
    protocol_errors: int = 0
    forbidden: int = 0

    def snapshot(self) -> HubCounters:
        return dataclasses.replace(self)

    def restore(self, snapshot: HubCounters) -> None:
        """Back to ``snapshot`` (a message rolled back: its counts go with it)."""
        for name in COUNTER_NAMES:
            setattr(self, name, getattr(snapshot, name))


COUNTER_NAMES = tuple(f.name for f in dataclasses.fields(HubCounters))


class LinkStats(TypedDict):
    upstream_pending: int
    upstream_expired: int


class LimitStats(TypedDict):
    refused_store_limit: int
    refused_disk_full: int
    refused_store_error: int


class ForwardingStats(LinkStats, LimitStats):
    store_bytes: int


class HubStats(TypedDict):
    """``Hub.stats()``: the counters, plus what is stored and connected now (``sim status``'s ``hub``);
    the store's and the link's figures while the hub runs."""

    received: int
    routed: int
    unrouted: int
    delivered: int
    expired: int
    rejected: int
    upstream: int
    auth_failures: int
    protocol_errors: int
    forbidden: int
    stored: int
    connected: int
    connected_devices: int
    upstream_pending: NotRequired[int]
    upstream_expired: NotRequired[int]
    store_bytes: NotRequired[int]
    refused_store_limit: NotRequired[int]
    refused_disk_full: NotRequired[int]
    refused_store_error: NotRequired[int]
