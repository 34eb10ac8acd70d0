"""The hub's store-and-forward parts beyond the module queues: the cloud log, the link to it, and
the store's limits, made together when the hub starts (they share its store and counters)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from edgesim.hub.limits import StoreLimits
from edgesim.hub.metrics import HubMetrics
from edgesim.hub.store import HubStore
from edgesim.hub.upstream import CloudLog, UpstreamLink
from edgesim.message import Message


class Forwarding:
    def __init__(self, store: HubStore, metrics: HubMetrics, max_size_bytes: int | None,
                 counters: dict[str, int]) -> None:
        self._counters = counters  # the hub's own stats dict: "upstream" and "expired" are counted into it
        self.cloud = CloudLog(store, metrics, lambda: self._count("upstream", 1))
        self.link = UpstreamLink(store, metrics, self.cloud.append, lambda n: self._count("expired", n))
        self.limits = StoreLimits(store.db, max_size_bytes)

    def _count(self, name: str, amount: int) -> None:
        self._counters[name] += amount

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """What runs for the hub's lifetime: the drain and TTL sweep of the link, the space check."""
        return [self.link.run(), self.limits.run()]

    def guarded(self, message: Message, store: Callable[[], None]) -> None:
        """``store`` (routing, a delivery) in one transaction; ``StoreFullError`` when the store takes
        nothing, and then the counters are as they were before."""
        before = dict(self._counters)

        def undo() -> None:
            self._counters.update(before)
            self.link.resync()
        self.limits.guard(message, undo, store)

    def stats(self) -> dict[str, int]:
        return {**self.link.stats(), "store_bytes": self.limits.size_bytes, **self.limits.refused_stats()}

    def state(self) -> dict[str, Any]:
        """For ``sim status``: the link to the cloud and the message store's size and limit."""
        return {"upstream": self.link.state(), "store": self.limits.state()}
