"""The small helpers edgeship keeps once: pid_alive, free_port, utc_timestamp; and the module's window."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from edgeship._net import free_port
from edgeship._proc import pid_alive
from edgeship._time import utc_timestamp


def test_pid_alive_for_a_running_a_zombie_and_a_reaped_process() -> None:
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert pid_alive(child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the child exits on EOF
    # Wait for the exit without reaping: the child is a zombie now, and kill(0) still answers.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert not pid_alive(child.pid)
    assert child.wait(timeout=10) == 0
    assert not pid_alive(child.pid)


def test_free_port_can_be_bound_on_loopback() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        assert sock.getsockname()[1] == port


def test_utc_timestamp_is_iso_8601_with_z() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    plain, precise = utc_timestamp(), utc_timestamp(microseconds=True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", plain), plain
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", precise), precise
    for stamp in (plain, precise):
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert before <= parsed <= datetime.now(UTC) + timedelta(seconds=1)


def test_the_modules_send_window_is_the_hubs_in_flight_window() -> None:
    # Two packages that must not import each other hold the same number: one test keeps them equal.
    from edgeship_sentiment.hub_window import MAX_SEND_WINDOW
    from edgesim.hub.server import IN_FLIGHT_WINDOW

    assert MAX_SEND_WINDOW == IN_FLIGHT_WINDOW == 64
