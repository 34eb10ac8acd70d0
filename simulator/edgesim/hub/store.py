"""The hub's durable state: messages waiting for a module, twins, and the ``$upstream`` log.

One SQLite database in WAL mode under the state folder. A message routed to a module input is
written before the sender gets its PUBACK and deleted only when the receiver's PUBACK arrives,
so a module that is down, a dropped connection or a hub restart loses nothing; a message leaves
unacknowledged only when its TTL expires, and that is counted. ``synchronous=NORMAL`` in WAL
mode survives a crash of the process (what the tests inject); only a power cut can lose the
last commits, the trade edgeHub's own RocksDB store makes by default too.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgesim.jsontypes import JSONObject
from edgesim.message import Message

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    module TEXT NOT NULL,
    input TEXT NOT NULL,
    body BLOB NOT NULL,
    properties TEXT NOT NULL,
    system TEXT NOT NULL,
    enqueued REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_module ON pending (module, seq);
CREATE TABLE IF NOT EXISTS twins (
    module TEXT PRIMARY KEY,
    desired TEXT NOT NULL,
    reported TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS upstream (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    module TEXT NOT NULL,
    output TEXT NOT NULL,
    body BLOB NOT NULL,
    properties TEXT NOT NULL,
    system TEXT NOT NULL,
    enqueued TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
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
# The bytes the stored messages take (body and property bags of each copy waiting for a module
# input, a device or the cloud link): what storeLimits.maxSizeBytes is compared with.
MESSAGE_BYTES_QUERY = """
SELECT (SELECT COALESCE(SUM(LENGTH(body) + LENGTH(properties) + LENGTH(system)), 0) FROM pending)
     + (SELECT COALESCE(SUM(LENGTH(body) + LENGTH(properties) + LENGTH(system)), 0) FROM upstream_pending)
"""


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    module: str
    input: str
    message: Message
    expires: float


@dataclass(frozen=True)
class UpstreamRow:
    """A row of the ``$upstream`` log (the "cloud")."""

    seq: int
    module: str
    output: str
    body: bytes
    properties: dict[str, str]
    system_properties: dict[str, str]
    enqueued: str


@dataclass(frozen=True)
class WaitingUpstream:
    """A ``$upstream`` message waiting for the link."""

    seq: int
    message: Message
    expires: float


def _message(body: bytes, properties: str, system: str) -> Message:
    return Message(bytes(body), json.loads(properties), json.loads(system))


class HubStore:
    """Every SQL statement of the hub, behind named methods; ``transaction()`` groups them."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # ---- messages waiting for module inputs -------------------------------------------
    def enqueue(self, module: str, input_name: str, message: Message, ttl_secs: float) -> int:
        now = time.time()
        cursor = self.db.execute(
            "INSERT INTO pending (module, input, body, properties, system, enqueued, expires) VALUES (?,?,?,?,?,?,?)",
            (
                module,
                input_name,
                message.body,
                json.dumps(message.properties),
                json.dumps(message.system_properties),
                now,
                now + ttl_secs,
            ),
        )
        return int(cursor.lastrowid or 0)

    def pending(self, module: str, after_seq: int, limit: int) -> list[StoredMessage]:
        rows = self.db.execute(
            "SELECT seq, module, input, body, properties, system, expires FROM pending "
            "WHERE module = ? AND seq > ? ORDER BY seq LIMIT ?",
            (module, after_seq, limit),
        ).fetchall()
        return [
            StoredMessage(seq, mod, inp, _message(body, props, system), expires)
            for seq, mod, inp, body, props, system, expires in rows
        ]

    def delete(self, seq: int) -> None:
        self.db.execute("DELETE FROM pending WHERE seq = ?", (seq,))

    def pending_count(self, module: str | None = None) -> int:
        if module is None:
            return int(self.db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM pending WHERE module = ?", (module,)).fetchone()[0])

    def expire(self, now: float) -> int:
        cursor = self.db.execute("DELETE FROM pending WHERE expires <= ?", (now,))
        return cursor.rowcount

    def pending_by_module(self) -> dict[str, int]:
        return {
            str(module): int(count)
            for module, count in self.db.execute("SELECT module, COUNT(*) FROM pending GROUP BY module")
        }

    def forget(self, key: str) -> None:
        """Delete an identity's queued messages and twin (a removed leaf device)."""
        self.db.execute("DELETE FROM pending WHERE module = ?", (key,))
        self.db.execute("DELETE FROM twins WHERE module = ?", (key,))

    # ---- twins -------------------------------------------------------------------------
    def load_twin(self, module: str) -> tuple[JSONObject, JSONObject] | None:
        row = self.db.execute("SELECT desired, reported FROM twins WHERE module = ?", (module,)).fetchone()
        return (json.loads(row[0]), json.loads(row[1])) if row else None

    def save_twin(self, module: str, desired: JSONObject, reported: JSONObject) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO twins (module, desired, reported) VALUES (?, ?, ?)",
            (module, json.dumps(desired), json.dumps(reported)),
        )

    # ---- $upstream ---------------------------------------------------------------------
    def append_upstream(self, module: str, output: str, message: Message, enqueued: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO upstream (module, output, body, properties, system, enqueued) VALUES (?,?,?,?,?,?)",
            (
                module,
                output,
                message.body,
                json.dumps(message.properties),
                json.dumps(message.system_properties),
                enqueued,
            ),
        )
        return int(cursor.lastrowid or 0)

    def upstream_since(self, seq: int, limit: int = 10_000) -> list[UpstreamRow]:
        rows = self.db.execute(
            "SELECT seq, module, output, body, properties, system, enqueued FROM upstream WHERE seq > ? "
            "ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [
            UpstreamRow(int(row[0]), row[1], row[2], bytes(row[3]), json.loads(row[4]), json.loads(row[5]), row[6])
            for row in rows
        ]

    def upstream_last_seq(self) -> int:
        return int(self.db.execute("SELECT MAX(seq) FROM upstream").fetchone()[0] or 0)

    # ---- $upstream messages waiting for the link ------------------------------------------
    def queue_upstream(self, message: Message, expires: float) -> None:
        system = message.system_properties
        self.db.execute(
            "INSERT INTO upstream_pending (module, output, body, properties, system, expires) VALUES (?,?,?,?,?,?)",
            (
                system.get("connectionModuleId", ""),
                system.get("outputName", ""),
                message.body,
                json.dumps(message.properties),
                json.dumps(system),
                expires,
            ),
        )

    def upstream_waiting_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM upstream_pending").fetchone()[0])

    def upstream_waiting(self, limit: int) -> list[WaitingUpstream]:
        rows = self.db.execute(
            "SELECT seq, body, properties, system, expires FROM upstream_pending ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [
            WaitingUpstream(int(seq), _message(body, props, system), float(expires))
            for seq, body, props, system, expires in rows
        ]

    def delete_upstream_waiting(self, through_seq: int) -> None:
        self.db.execute("DELETE FROM upstream_pending WHERE seq <= ?", (through_seq,))

    def expire_upstream_waiting(self, now: float) -> int:
        return self.db.execute("DELETE FROM upstream_pending WHERE expires <= ?", (now,)).rowcount

    # ---- settings that outlive a restart (the link's state) ----------------------------
    def setting(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, name: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    # ---- size and transactions -------------------------------------------------------------
    def message_bytes(self) -> int:
        """What the stored messages take, as ``storeLimits.maxSizeBytes`` counts it."""
        return int(self.db.execute(MESSAGE_BYTES_QUERY).fetchone()[0])

    @property
    def total_changes(self) -> int:
        """Rows written since the store opened (a transaction's writes are the difference)."""
        return self.db.total_changes

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back (when SQLite has not already) on any error."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except sqlite3.Error:
            if self.db.in_transaction:  # SQLite may have rolled back already
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    # ---- counters that must survive a restart -------------------------------------------
    def add_counter(self, name: str, amount: int) -> None:
        if amount:
            self.db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, amount),
            )

    def counters(self) -> dict[str, int]:
        return {name: int(value) for name, value in self.db.execute("SELECT name, value FROM counters")}
