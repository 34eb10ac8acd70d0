"""Serve a published folder read-only over HTTP: ``GET``/``HEAD`` of archives and their index files.

Only names ``publish`` writes are answered (``sha256/<hex>.tar.gz`` and ``<name>/<version>.json``),
so nothing else in the folder, and nothing outside it, can be read; every other method is 405.
"""

from __future__ import annotations

import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ALLOWED = re.compile(r"^/(sha256/[0-9a-f]{64}\.tar\.gz|[A-Za-z0-9][A-Za-z0-9_.-]*/[0-9]+\.json)$")
CHUNK = 1 << 16


class _Handler(BaseHTTPRequestHandler):
    server: PublishedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # the CLI prints one line per request
        if self.server.verbose:
            super().log_message(format, *args)

    def _resolve(self) -> Path | None:
        path = unquote(urlsplit(self.path).path)
        if ".." in path or not ALLOWED.match(path):
            return None
        target = self.server.root / path.lstrip("/")
        return target if target.is_file() else None

    def _answer(self, body: bool) -> None:
        target = self._resolve()
        if target is None:
            self.send_error(HTTPStatus.NOT_FOUND, "no such published file")
            return
        size = target.stat().st_size
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/gzip" if target.suffix == ".gz" else "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if body:
            with target.open("rb") as source:
                while chunk := source.read(CHUNK):
                    self.wfile.write(chunk)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse(self) -> None:
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "published models are read-only")

    def do_POST(self) -> None:
        self._refuse()

    def do_PUT(self) -> None:
        self._refuse()

    def do_DELETE(self) -> None:
        self._refuse()

    def do_PATCH(self) -> None:
        self._refuse()


class PublishedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        self.root = root.resolve()
        self.verbose = verbose
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="published-models", daemon=True)
        thread.start()
        return thread
