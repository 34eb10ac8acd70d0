"""The link to the cloud: ``$upstream`` messages reach the cloud log now, or wait durably for the link.

On a device edgeHub's cloud endpoint keeps every ``$upstream`` message in its store until IoT Hub
takes it, for at most the store-and-forward TTL. Here the "cloud" is the store's ``upstream`` table
(what ``sim monitor`` reads). While the link is offline, messages go to ``upstream_pending`` in the
same SQLite database (so they survive a restart of the simulator), with their expiry time; when the
link returns they move to the cloud log in store order, one transaction per batch, so a crash in
the middle neither loses nor duplicates one. What expires first is deleted and counted, never
delivered. The link state itself is a row of ``settings``: an outage outlives a restart too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from edgesim.hub.counters import LinkStats
from edgesim.hub.metrics import HubMetrics
from edgesim.hub.store import HubStore
from edgesim.message import Message

log = logging.getLogger("edgesim.hub.upstream")

DRAIN_BATCH = 200  # messages per transaction while draining; the loop serves others between batches
SWEEP_SECS = 1.0
CLOUD_ENDPOINT = "iothub"  # edgeHub's id of its cloud endpoint, the queue_length label for $upstream


LINK_SETTING = "upstream_link"


class UpstreamRecordJSON(TypedDict, total=False):
    """An ``UpstreamRecord`` as ``sim monitor --json`` and the control API show it."""

    seq: int
    module: str
    output: str
    properties: dict[str, str]
    system_properties: dict[str, str]
    enqueued_time: str
    body: str
    body_encoding: str


class LinkState(TypedDict):
    link: str
    pending: int
    expired: int
    delivered_after_outage: int


@dataclass(frozen=True)
class UpstreamRecord:
    seq: int
    module: str
    output: str
    body: bytes
    properties: dict[str, str]
    system_properties: dict[str, str]
    enqueued_time: str

    def to_json(self) -> UpstreamRecordJSON:
        data: UpstreamRecordJSON = {
            "seq": self.seq,
            "module": self.module,
            "output": self.output,
            "properties": self.properties,
            "system_properties": self.system_properties,
            "enqueued_time": self.enqueued_time,
        }
        try:
            data["body"] = self.body.decode("utf-8")
        except UnicodeDecodeError:
            data["body"] = base64.b64encode(self.body).decode("ascii")
            data["body_encoding"] = "base64"
        return data


class CloudLog:
    """The "cloud": what reached ``$upstream``, the store's ``upstream`` table; waiters wake on each append."""

    def __init__(self, store: HubStore, metrics: HubMetrics, on_append: Callable[[], None]) -> None:
        self._store = store
        self._metrics = metrics
        self._on_append = on_append
        self._changed = asyncio.Event()
        self.last_seq = store.upstream_last_seq()

    def append(self, message: Message) -> None:
        system = message.system_properties
        enqueued = system.get("enqueuedTime") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.last_seq = self._store.append_upstream(
            system.get("connectionModuleId", ""), system.get("outputName", ""), message, enqueued
        )
        self._metrics.message_sent(message, "upstream", "")
        self._on_append()
        self._changed.set()

    def since(self, seq: int = 0) -> list[UpstreamRecord]:
        return [
            UpstreamRecord(
                row.seq, row.module, row.output, row.body, row.properties, row.system_properties, row.enqueued
            )
            for row in self._store.upstream_since(seq)
        ]

    async def wait(self, seq: int, timeout: float) -> list[UpstreamRecord]:
        """The records after ``seq``, once there is one or ``timeout`` has passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.last_seq <= seq:
                    self._changed.clear()  # no await between the check and here: no append is missed
                    await self._changed.wait()
        return self.since(seq)


class UpstreamLink:
    """Decides, per ``$upstream`` message, cloud now or queue; drains the queue when online.

    ``to_cloud(message)`` appends one message to the cloud log (the hub's, which also counts it
    and wakes ``wait_upstream``); ``on_expired(n)`` adds to the hub's ``expired`` counter.
    """

    def __init__(
        self,
        store: HubStore,
        metrics: HubMetrics,
        to_cloud: Callable[[Message], None],
        on_expired: Callable[[int], None],
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._to_cloud = to_cloud
        self._on_expired = on_expired
        self.online = store.setting(LINK_SETTING) != "offline"
        self._pending = self._count()
        self._wake = asyncio.Event()
        if self.online and self._pending:
            self._wake.set()  # online again after a restart with messages left: drain them

    def _count(self) -> int:
        return self._store.upstream_waiting_count()

    # ---- the link ------------------------------------------------------------------------
    def set_online(self, online: bool) -> LinkState:
        self._store.set_setting(LINK_SETTING, "online" if online else "offline")
        self.online = online
        log.info("upstream link %s (%d messages waiting)", "online" if online else "offline", self._pending)
        if online:
            self._wake.set()
        return self.state()

    def stats(self) -> LinkStats:
        """For the hub's counters: what waits for the link, and what expired waiting."""
        return {
            "upstream_pending": self._pending,
            "upstream_expired": self._store.counters().get("upstream_expired", 0),
        }

    def state(self) -> LinkState:
        counters = self._store.counters()
        return {
            "link": "online" if self.online else "offline",
            "pending": self._pending,
            "expired": counters.get("upstream_expired", 0),
            "delivered_after_outage": counters.get("upstream_drained", 0),
        }

    # ---- messages ------------------------------------------------------------------------
    def accept(self, message: Message, ttl_secs: float) -> None:
        """One routed ``$upstream`` message. Straight to the cloud only when nothing waits ahead of it."""
        if self.online and self._pending == 0:
            self._to_cloud(message)
            return
        self._store.queue_upstream(message, time.time() + ttl_secs)
        self._pending += 1
        if self.online:
            self._wake.set()

    def resync(self) -> None:
        """After a rolled-back transaction: the in-memory count follows the table again."""
        self._pending = self._count()

    def drain_batch(self, now: float) -> int:
        """Move up to one batch to the cloud, in order, in one transaction; returns how many left the queue."""
        rows = self._store.upstream_waiting(DRAIN_BATCH)
        if not rows:
            return 0
        sent = expired = 0
        with self._store.transaction():
            for row in rows:
                if row.expires <= now:
                    expired += 1
                    self._metrics.message_dropped(row.message, "ttl_expiry")
                    continue
                self._to_cloud(row.message)
                sent += 1
            self._store.delete_upstream_waiting(rows[-1].seq)
            self._store.add_counter("upstream_drained", sent)
            self._store.add_counter("upstream_expired", expired)
        self._pending -= len(rows)
        if expired:
            self._on_expired(expired)
        return len(rows)

    def expire(self, now: float) -> int:
        if not self._pending:
            return 0  # no write (and no disk use) while nothing waits
        with self._store.transaction():
            count = self._store.expire_upstream_waiting(now)
            self._store.add_counter("upstream_expired", count)
        if count:
            self._pending -= count
            self._on_expired(count)
            self._metrics.messages_dropped_unknown(count, "ttl_expiry")
        return count

    async def run(self) -> None:
        """Drain whenever the link is online and messages wait; sweep expired ones every second."""
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + SWEEP_SECS
        while True:
            timeout = max(0.0, next_sweep - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            try:
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + SWEEP_SECS
                    self.expire(time.time())
                while self.online and self._pending > 0:
                    if not self.drain_batch(time.time()):
                        self.resync()
                        break
                    await asyncio.sleep(0)  # between batches the hub serves its connections
            except sqlite3.Error as exc:
                # A full disk (or another store failure) must not end the drain for good: the
                # messages stay queued; try again at the next sweep.
                log.warning("upstream drain paused: %s", exc)
                self.resync()

    def refresh_metrics(self) -> None:
        self._metrics.queue_length.labels(**self._metrics.common, endpoint=CLOUD_ENDPOINT, priority="2000000000").set(
            self._pending
        )
