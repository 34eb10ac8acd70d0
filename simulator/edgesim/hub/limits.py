"""How full the hub's message store is: ``storeAndForwardConfiguration.storeLimits`` and a full disk.

edgeHub (Azure/iotedge ``doc/DbStoreSizeLimits.md``) checks the message store's size before it
adds a message; over ``maxSizeBytes`` it stops accepting messages from modules and devices
(``StorageFullException``) until deliveries or TTL expiry make room. Its space checker runs on a
period, so the store may pass the limit by what arrives between two checks; here the size is
recomputed every second and raised by each stored message in between, which keeps the overshoot
to about one message per copy stored.

The size is that of the stored messages (body and property bags of each copy waiting for a module
input, a device or the cloud link), not of the database file: the file keeps freed pages and
twins, which edgeHub's limit does not count either.

A full disk under the state directory is the other way the store fills: SQLite answers
``SQLITE_FULL``. Each message is routed inside one transaction, so a message that cannot be
stored is rolled back whole (never half fanned out) and refused like one over the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from typing import Literal, TypedDict

from edgesim.errors import SimulatorError
from edgesim.hub.counters import LimitStats
from edgesim.hub.store import HubStore
from edgesim.message import Message

log = logging.getLogger("edgesim.hub.limits")

CHECK_SECS = 1.0
RefusalReason = Literal["store_limit", "disk_full", "store_error"]
REASONS: tuple[RefusalReason, ...] = ("store_limit", "disk_full", "store_error")


class Refused(TypedDict):
    store_limit: int
    disk_full: int
    store_error: int


class LimitsState(TypedDict):
    """``sim status --json``'s ``store``."""

    size_bytes: int
    max_size_bytes: int | None
    refused: Refused


class StoreFullError(SimulatorError):
    """The store takes no message now: over ``storeLimits.maxSizeBytes``, or the disk is full."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreLimits:
    """The message store's size against its limit, and a transaction that turns SQLITE_FULL into a refusal."""

    def __init__(self, store: HubStore, max_size_bytes: int | None) -> None:
        self._store = store
        self.max_size_bytes = max_size_bytes
        self.size_bytes = 0
        self.refused: Refused = {"store_limit": 0, "disk_full": 0, "store_error": 0}
        self.recompute()

    def recompute(self) -> int:
        self.size_bytes = self._store.message_bytes()
        return self.size_bytes

    def check(self) -> None:
        """Before a message is stored: ``StoreFullError`` when the store is at or over its limit."""
        if self.max_size_bytes is not None and self.size_bytes >= self.max_size_bytes:
            self.refused["store_limit"] += 1
            raise StoreFullError(
                "store_limit",
                f"the message store is full ({self.size_bytes} of "
                f"{self.max_size_bytes} bytes, storeLimits.maxSizeBytes)",
            )

    def guard(self, message: Message, on_rollback: Callable[[], None], store: Callable[[], None]) -> None:
        """Check the limit, then run ``store`` (routing, a delivery) in one transaction; after a
        refusal ``on_rollback`` lets in-memory counts follow the rolled-back tables."""
        self.check()
        try:
            # the bytes one stored copy takes, as HubStore.message_bytes counts them
            size = len(message.body) + len(json.dumps(message.properties)) + len(json.dumps(message.system_properties))
            with self.transaction(size):
                store()
        except StoreFullError:
            on_rollback()
            raise

    def refused_stats(self) -> LimitStats:
        return {
            "refused_store_limit": self.refused["store_limit"],
            "refused_disk_full": self.refused["disk_full"],
            "refused_store_error": self.refused["store_error"],
        }

    @contextlib.contextmanager
    def transaction(self, message_bytes: int) -> Iterator[None]:
        """Store one message (all its copies) or nothing; a disk that is full becomes ``StoreFullError``."""
        before = self._store.total_changes
        try:
            with self._store.transaction():
                yield
        except sqlite3.OperationalError as exc:
            full = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
            reason: RefusalReason = "disk_full" if full else "store_error"
            self.refused[reason] += 1
            log.warning("message refused, the store cannot take it: %s", exc)
            raise StoreFullError(reason, f"the message store cannot take the message: {exc}") from None
        # Every row written is a stored copy (or a cloud-log row, over-counted until the next check).
        self.size_bytes += message_bytes * (self._store.total_changes - before)

    def state(self) -> LimitsState:
        return {
            "size_bytes": self.size_bytes,
            "max_size_bytes": self.max_size_bytes,
            "refused": Refused(**self.refused),
        }

    async def run(self) -> None:
        """The periodic space check (edgeHub's runs on a period too): deletions lower the size here."""
        while True:
            await asyncio.sleep(CHECK_SECS)  # a periodic check, not synchronisation
            try:
                self.recompute()
            except sqlite3.Error as exc:
                log.warning("store size check failed: %s", exc)
