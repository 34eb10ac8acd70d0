"""``WORKER_COUNT`` HTTP worker processes sharing one listening socket, as azmlinfsrv's gunicorn runs them.

The parent binds the socket (so the port is taken before any worker starts, and the kernel
spreads connections over the workers' accept calls), starts each worker as
``python -m edgeship_sentiment`` with the same arguments and the socket's descriptor, and waits.
Each worker loads the model or the entry script itself (``init()`` runs once per worker, as
there) and tells the parent it is ready through a pipe. SIGTERM is passed on to every worker,
which finishes its requests in flight; the parent exits 0 when all have. A worker that dies on
its own stops the rest and the parent exits 1: the container's restart policy decides what
happens next, not a supervisor hidden inside the module.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from types import FrameType

from edgeship_sentiment.errors import SentimentModuleError
from edgeship_sentiment.http_server import listen_socket

log = logging.getLogger("edgeship_sentiment.workers")
FD_VARIABLE = "EDGESHIP_HTTP_FD"
READY_VARIABLE = "EDGESHIP_READY_FD"
START_TIMEOUT = 600.0  # a TensorFlow entry script may take minutes to init() on a busy device


def run_workers(count: int, host: str, port: int, argv: list[str]) -> int:
    sock = listen_socket(host, port)
    read_end, write_end = os.pipe()
    env = {**os.environ, "WORKER_COUNT": "1", FD_VARIABLE: str(sock.fileno()), READY_VARIABLE: str(write_end)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "edgeship_sentiment", *argv], env=env, pass_fds=(sock.fileno(), write_end)
        )
        for _ in range(count)
    ]
    os.close(write_end)
    stopping = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    ready = 0
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while ready < count:
            byte = pipe.read(1)  # one byte per worker that listens; EOF when every worker is gone
            if not byte:
                break
            ready += 1
    if ready == count:
        log.info("ready: %d HTTP workers on %s:%d", count, host, sock.getsockname()[1])
    sock.close()  # the workers hold their own copies
    codes = _wait_all(workers, stopping)
    return 0 if stopping.is_set() and all(code == 0 for code in codes) else 1


def _wait_all(workers: list[subprocess.Popen[bytes]], stopping: threading.Event) -> list[int]:
    remaining = list(workers)
    codes: list[int] = []
    while remaining:
        pid, status = os.wait()
        finished = next((w for w in remaining if w.pid == pid), None)
        if finished is None:
            continue
        remaining.remove(finished)
        code = os.waitstatus_to_exitcode(status)
        finished.returncode = code
        codes.append(code)
        if not stopping.is_set():
            log.error("HTTP worker %d exited with %d: stopping the others", pid, code)
            stopping.set()
            for worker in remaining:
                worker.send_signal(signal.SIGTERM)
            codes.append(1)
    return codes


def inherited_socket() -> socket.socket | None:
    """The listening socket a parent passed down (``None`` in a module that binds its own)."""
    fd = os.environ.get(FD_VARIABLE)
    if not fd:
        return None
    try:
        sock = socket.socket(fileno=int(fd))
    except (OSError, ValueError) as exc:
        raise SentimentModuleError(f"{FD_VARIABLE}={fd} is not a listening socket: {exc}") from exc
    sock.setblocking(False)
    return sock


def tell_parent_ready() -> None:
    fd = os.environ.get(READY_VARIABLE)
    if fd:
        try:
            os.write(int(fd), b"r")
            os.close(int(fd))
        except (OSError, ValueError):
            log.warning("could not tell the parent this worker is ready")
