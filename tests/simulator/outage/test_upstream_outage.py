"""The cloud goes away: ``$upstream`` while the link is offline, across a restart, past the TTL.

A real SDK module ("sender", run by the agent) sends numbered messages to an output routed to
$upstream; the harness takes the link down and up. Everything the cloud log ("sim monitor")
holds must be each message inside the TTL once, in order; what outlived its TTL is counted.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from edgesim.testing import SimulatorHarness
from tests.support.upstream import burst, manifest, start
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def metric(sim: SimulatorHarness, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with ``labels``, as a Prometheus scrape of ``metrics_url`` shows it."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(sim.status()["metrics_url"], timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def numbers(records: list[Any]) -> list[int]:
    return [json.loads(record.body)["n"] for record in records]


@pytest.mark.soak
def test_sixty_second_outage_with_a_restart_loses_nothing_and_keeps_order(tmp_path: Path) -> None:
    deployment, state, host = manifest(tmp_path / "deployment.json", 3600), tmp_path / "sim", "127.0.32.11"
    began = time.monotonic()
    with start(deployment, state, host) as sim:
        sim.wait_connected("sender", timeout=60)
        assert sim.upstream_offline()["link"] == "offline"
        began = time.monotonic()
        burst(sim, 0, 500, 0.05)
        wait_until(lambda: sim.upstream_link()["pending"] == 500, 90, "500 messages waiting for the link")
        assert sim.upstream() == []  # the cloud saw nothing
    with start(deployment, state, host) as sim:
        # The outage and the queue outlived the restart.
        assert sim.upstream_link() == {"link": "offline", "pending": 500, "expired": 0, "delivered_after_outage": 0}
        burst(sim, 500, 500, 0.05)
        wait_until(lambda: sim.upstream_link()["pending"] == 1000, 90, "1,000 messages waiting for the link")
        # The outage is 60 s long, whatever this machine's speed made of the sending.
        threading.Event().wait(max(0.0, 60 - (time.monotonic() - began)))
        assert sim.upstream() == []
        outage = time.monotonic() - began
        assert sim.upstream_online()["link"] == "online"
        records = sim.wait_upstream(1000, timeout=60)
        assert numbers(records) == list(range(1000))
        assert [r.seq for r in records] == sorted(r.seq for r in records)
        wait_until(lambda: sim.upstream_link()["pending"] == 0, 10, "the queue is empty")
        assert len(sim.upstream()) == 1000  # once each: no duplicates behind them
        status = sim.status()
        assert status["upstream"] == {"link": "online", "pending": 0, "expired": 0, "delivered_after_outage": 1000}
        assert status["hub"]["upstream"] == 1000
    assert outage >= 60


def test_what_outlives_the_ttl_is_counted_never_delivered(tmp_path: Path) -> None:
    deployment, state = manifest(tmp_path / "deployment.json", 2), tmp_path / "sim"
    with start(deployment, state, "127.0.32.12") as sim:
        sim.wait_connected("sender", timeout=60)
        sim.upstream_offline()
        burst(sim, 0, 5, 0)
        wait_until(lambda: sim.upstream_link()["expired"] == 5, 30, "5 expired")
        burst(sim, 5, 3, 0)
        wait_until(lambda: sim.upstream_link()["pending"] == 3, 30, "3 waiting")
        assert metric(sim, "edgehub_queue_length", endpoint="iothub") == 3
        assert metric(sim, "edgehub_messages_dropped_total", reason="ttl_expiry") == 5
        sim.upstream_online()
        records = sim.wait_upstream(3, timeout=30)
        assert numbers(records) == [5, 6, 7]
        wait_until(lambda: sim.upstream_link()["pending"] == 0, 10, "the queue is empty")
        assert numbers(sim.upstream()) == [5, 6, 7]  # monitor shows only what reached the cloud
        link = sim.upstream_link()
        assert (link["expired"], link["delivered_after_outage"]) == (5, 3)
        hub = sim.status()["hub"]
        assert (hub["expired"], hub["upstream_expired"], hub["upstream_pending"]) == (5, 5, 0)
        # Online with nothing waiting: straight to the cloud again.
        burst(sim, 8, 1, 0)
        assert numbers(sim.wait_upstream(1, since=records[-1].seq, timeout=30)) == [8]
        assert sim.upstream_link()["delivered_after_outage"] == 3
