"""The hub's store-and-forward parts beyond the module queues: the cloud log, the link to it, and
the store's limits, made together when the hub starts (they share its store and counters)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TypedDict

from edgesim.hub.counters import ForwardingStats, HubCounters
from edgesim.hub.limits import LimitsState, StoreLimits
from edgesim.hub.metrics import HubMetrics
from edgesim.hub.store import HubStore
from edgesim.hub.upstream import CloudLog, LinkState, UpstreamLink
from edgesim.message import Message


class ForwardingState(TypedDict):
    upstream: LinkState
    store: LimitsState


class Forwarding:
    def __init__(self, store: HubStore, metrics: HubMetrics, max_size_bytes: int | None, counters: HubCounters) -> None:
        self._counters = counters  # the hub's own counters: "upstream" and "expired" are counted into it
        self.cloud = CloudLog(store, metrics, self._count_upstream)
        self.link = UpstreamLink(store, metrics, self.cloud.append, self._count_expired)
        self.limits = StoreLimits(store, max_size_bytes)

    def _count_upstream(self) -> None:
        self._counters.upstream += 1

    def _count_expired(self, amount: int) -> None:
        self._counters.expired += amount

    def loops(self) -> list[Callable[[], Coroutine[object, object, None]]]:
        """What runs for the hub's lifetime: the drain and TTL sweep of the link, the space check."""
        return [self.link.run, self.limits.run]

    def guarded(self, message: Message, store: Callable[[], None]) -> None:
        """``store`` (routing, a delivery) in one transaction; ``StoreFullError`` when the store takes
        nothing, and then the counters are as they were before."""
        before = self._counters.snapshot()

        def undo() -> None:
            self._counters.restore(before)
            self.link.resync()

        self.limits.guard(message, undo, store)

    def stats(self) -> ForwardingStats:
        link, refused = self.link.stats(), self.limits.refused_stats()
        return {
            "upstream_pending": link["upstream_pending"],
            "upstream_expired": link["upstream_expired"],
            "store_bytes": self.limits.size_bytes,
            "refused_store_limit": refused["refused_store_limit"],
            "refused_disk_full": refused["refused_disk_full"],
            "refused_store_error": refused["refused_store_error"],
        }

    def state(self) -> ForwardingState:
        """For ``sim status``: the link to the cloud and the message store's size and limit."""
        return {"upstream": self.link.state(), "store": self.limits.state()}
