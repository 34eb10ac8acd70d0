"""The HTTP face, shaped like an Azure ML scoring URI.

``POST /score`` with ``{"text": ...}`` answers the seed's ``{"label", "score", "elapsed_time"}``
(``{"texts": [...]}`` answers a list), so the seed's client code works unchanged.
``GET /health`` tells live and ready; ``GET /metrics`` is Prometheus text format. A request id
from ``x-request-id`` / ``x-ms-request-id`` is echoed back as ``x-request-id``.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edgeship_sentiment.payloads import MAX_BODY_BYTES
from edgeship_sentiment.service import Reply, SentimentService, error_payload


class _Handler(BaseHTTPRequestHandler):
    server: SentimentHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              request_id: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if request_id:
            self.send_header("x-request-id", request_id)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, request_id: str | None = None) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), request_id=request_id)

    def do_GET(self) -> None:
        service = self.server.service
        path = self.path.split("?", 1)[0]
        if path in ("/health", "/"):
            ready = service.ready
            self._json(200 if ready else 503, {"live": True, "ready": ready, **service.describe()})
        elif path == "/metrics":
            self._send(200, service.metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._json(404, {"error": f"no route {path}"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        request_id = self.headers.get("x-request-id") or self.headers.get("x-ms-request-id")
        if path != "/score":
            self._json(404, {"error": f"no route {path}"}, request_id)
            return
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if length < 0:
            self.server.service.metrics.observe_error("http", "bad_request")
            self._json(411, error_payload("Content-Length is required", request_id), request_id)
            return
        if length > MAX_BODY_BYTES:
            self.server.service.metrics.observe_error("http", "bad_request")
            # Read (and drop) what was sent so the connection stays usable for the reply.
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
            self._json(400, error_payload(f"body is larger than {MAX_BODY_BYTES} bytes", request_id), request_id)
            return
        body = self.rfile.read(length)
        reply: Reply = self.server.service.handle(body, "http", request_id)
        self._json(reply.status, reply.payload, request_id)


class SentimentHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: SentimentService, host: str, port: int, *, access_log: bool = False) -> None:
        self.service = service
        self.access_log = access_log
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="sentiment-http", daemon=True)
        thread.start()
        return thread


__all__ = ["HTTPStatus", "SentimentHTTPServer"]
