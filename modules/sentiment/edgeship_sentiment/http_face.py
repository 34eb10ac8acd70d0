"""The HTTP face, shaped like an Azure ML scoring URI.

``POST /score`` with ``{"text": ...}`` answers the seed's ``{"label", "score", "elapsed_time"}``
(``{"texts": [...]}`` answers a list), so the seed's client code works unchanged.
``GET /health`` tells live and ready; ``GET /metrics`` is Prometheus text format. A request id
from ``x-request-id`` / ``x-ms-request-id`` is echoed back as ``x-request-id``.

When the module hosts an entry script instead of the ONNX scorer, the routes are Azure ML's
inference server's (``azureml_face.py``); ``/health`` and ``/metrics`` stay.
"""

from __future__ import annotations

import asyncio
import socket

from edgeship_sentiment.azureml_face import AzureMLApp
from edgeship_sentiment.errors import BadRequestError
from edgeship_sentiment.health_routes import common_routes
from edgeship_sentiment.http_server import (
    REQUEST_TIMEOUT_SECONDS,
    HTTPServer,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    respond,
    respond_json,
)
from edgeship_sentiment.payloads import MAX_BODY_BYTES
from edgeship_sentiment.service import Reply, SentimentService, error_payload


class ScoringApp:
    """The ONNX scorer's routes: requests go to the micro-batcher without blocking the event loop."""

    def __init__(self, service: SentimentService) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if await common_routes(self.service, scope, send):
            return
        path, method = scope["path"], scope["method"]
        request_id = header(scope, b"x-request-id") or header(scope, b"x-ms-request-id")
        echo = [("x-request-id", request_id)] if request_id else []
        if method == "GET" and path == "/":
            ready = self.service.ready
            await respond_json(send, 200 if ready else 503, {"live": True, "ready": ready, **self.service.describe()})
            return
        if path != "/score":
            await respond_json(send, 404, {"error": f"no route {path}"}, echo)
            return
        if method != "POST":
            await respond_json(
                send, 405, {"error": f"{method} is not allowed on /score; POST a JSON body"}, [*echo, ("allow", "POST")]
            )
            return
        try:
            reply = await asyncio.wait_for(self._score(receive, request_id), REQUEST_TIMEOUT_SECONDS)
        except BadRequestError as exc:
            self.service.metrics.observe_error("http", "bad_request")
            await respond_json(send, 400, error_payload(str(exc), request_id), echo)
            return
        except TimeoutError:
            self.service.metrics.observe_error("http", "internal")
            await respond_json(send, 503, error_payload("scoring timed out", request_id), echo)
            return
        # The body stays the seed's; the model that scored it travels beside it (it changes with twin updates).
        model = [("x-model-version", reply.model)] if reply.model else []
        await respond(send, reply.status, reply.body(), "application/json", [*echo, *model])

    async def _score(self, receive: Receive, request_id: str | None) -> Reply:
        body = await read_body(receive, MAX_BODY_BYTES)
        return await asyncio.wrap_future(self.service.submit(body, "http", request_id))


class SentimentHTTPServer(HTTPServer):
    """The module's HTTP face on ``host:port``: the scorer's routes, or Azure ML's for an entry script."""

    def __init__(self, service: SentimentService, host: str, port: int, *, sock: socket.socket | None = None) -> None:
        self.service = service
        app = AzureMLApp(service) if service.entry_script is not None else ScoringApp(service)
        super().__init__(app, host, port, sock=sock)


__all__ = ["ScoringApp", "SentimentHTTPServer"]
