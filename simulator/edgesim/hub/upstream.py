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
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edgesim.hub.metrics import HubMetrics
from edgesim.hub.store import HubStore
from edgesim.message import Message

log = logging.getLogger("edgesim.hub.upstream")

SCHEMA = """
CREATE TABLE IF NOT EXISTS upstream_pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    module TEXT NOT NULL,
    output TEXT NOT NULL,
    body BLOB NOT NULL,
    properties TEXT NOT NULL,
    system TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
DRAIN_BATCH = 200  # messages per transaction while draining; the loop serves others between batches
SWEEP_SECS = 1.0
CLOUD_ENDPOINT = "iothub"  # edgeHub's id of its cloud endpoint, the queue_length label for $upstream


@dataclass(frozen=True)
class UpstreamRecord:
    seq: int
    module: str
    output: str
    body: bytes
    properties: dict[str, str]
    system_properties: dict[str, str]
    enqueued_time: str

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"seq": self.seq, "module": self.module, "output": self.output,
                                "properties": self.properties, "system_properties": self.system_properties,
                                "enqueued_time": self.enqueued_time}
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
        self.last_seq = int(store.db.execute("SELECT MAX(seq) FROM upstream").fetchone()[0] or 0)

    def append(self, message: Message) -> None:
        system = message.system_properties
        enqueued = system.get("enqueuedTime") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.last_seq = self._store.append_upstream(system.get("connectionModuleId", ""), system.get("outputName", ""),
                                                    message, enqueued)
        self._metrics.message_sent(message, "upstream", "")
        self._on_append()
        self._changed.set()

    def since(self, seq: int = 0) -> list[UpstreamRecord]:
        return [UpstreamRecord(row[0], row[1], row[2], bytes(row[3]), json.loads(row[4]), json.loads(row[5]), row[6])
                for row in self._store.upstream_since(seq)]

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

    def __init__(self, store: HubStore, metrics: HubMetrics, to_cloud: Callable[[Message], None],
                 on_expired: Callable[[int], None]) -> None:
        self._store = store
        self._db = store.db
        self._db.executescript(SCHEMA)
        self._metrics = metrics
        self._to_cloud = to_cloud
        self._on_expired = on_expired
        row = self._db.execute("SELECT value FROM settings WHERE name = 'upstream_link'").fetchone()
        self.online = row is None or row[0] != "offline"
        self._pending = self._count()
        self._wake = asyncio.Event()
        if self.online and self._pending:
            self._wake.set()  # online again after a restart with messages left: drain them

    def _count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM upstream_pending").fetchone()[0])

    # ---- the link ------------------------------------------------------------------------
    def set_online(self, online: bool) -> dict[str, Any]:
        self._db.execute("INSERT INTO settings (name, value) VALUES ('upstream_link', ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = excluded.value", ("online" if online else "offline",))
        self.online = online
        log.info("upstream link %s (%d messages waiting)", "online" if online else "offline", self._pending)
        if online:
            self._wake.set()
        return self.state()

    def stats(self) -> dict[str, int]:
        """For the hub's counters: what waits for the link, and what expired waiting."""
        return {"upstream_pending": self._pending,
                "upstream_expired": self._store.counters().get("upstream_expired", 0)}

    def state(self) -> dict[str, Any]:
        counters = self._store.counters()
        return {"link": "online" if self.online else "offline", "pending": self._pending,
                "expired": counters.get("upstream_expired", 0), "delivered_after_outage":
                counters.get("upstream_drained", 0)}

    # ---- messages ------------------------------------------------------------------------
    def accept(self, message: Message, ttl_secs: float) -> None:
        """One routed ``$upstream`` message. Straight to the cloud only when nothing waits ahead of it."""
        if self.online and self._pending == 0:
            self._to_cloud(message)
            return
        self._db.execute(
            "INSERT INTO upstream_pending (module, output, body, properties, system, expires) VALUES (?,?,?,?,?,?)",
            (message.system_properties.get("connectionModuleId", ""), message.system_properties.get("outputName", ""),
             message.body, json.dumps(message.properties), json.dumps(message.system_properties),
             time.time() + ttl_secs))
        self._pending += 1
        if self.online:
            self._wake.set()

    def resync(self) -> None:
        """After a rolled-back transaction: the in-memory count follows the table again."""
        self._pending = self._count()

    def drain_batch(self, now: float) -> int:
        """Move up to one batch to the cloud, in order, in one transaction; returns how many left the queue."""
        rows = self._db.execute("SELECT seq, body, properties, system, expires FROM upstream_pending "
                                "ORDER BY seq LIMIT ?", (DRAIN_BATCH,)).fetchall()
        if not rows:
            return 0
        sent = expired = 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for _seq, body, props, system, expires in rows:
                message = Message(bytes(body), json.loads(props), json.loads(system))
                if expires <= now:
                    expired += 1
                    self._metrics.message_dropped(message, "ttl_expiry")
                    continue
                self._to_cloud(message)
                sent += 1
            self._db.execute("DELETE FROM upstream_pending WHERE seq <= ?", (rows[-1][0],))
            self._store.add_counter("upstream_drained", sent)
            self._store.add_counter("upstream_expired", expired)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._pending -= len(rows)
        if expired:
            self._on_expired(expired)
        return len(rows)

    def expire(self, now: float) -> int:
        if not self._pending:
            return 0  # no write (and no disk use) while nothing waits
        self._db.execute("BEGIN IMMEDIATE")
        try:
            count = self._db.execute("DELETE FROM upstream_pending WHERE expires <= ?", (now,)).rowcount
            self._store.add_counter("upstream_expired", count)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
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
        self._metrics.queue_length.labels(**self._metrics.common, endpoint=CLOUD_ENDPOINT,
                                          priority="2000000000").set(self._pending)
