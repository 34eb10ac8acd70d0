"""``GET /health`` and ``GET /metrics``: the module's own routes, on the scorer's face and the entry script's."""

from __future__ import annotations

from edgeship_sentiment.http_server import Scope, Send, respond, respond_json
from edgeship_sentiment.service import SentimentService

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def common_routes(service: SentimentService, scope: Scope, send: Send) -> bool:
    """``GET /health`` and ``GET /metrics`` on either backend; False when the path is another."""
    path = scope["path"]
    if scope["method"] != "GET" or path not in ("/health", "/metrics"):
        return False
    if path == "/health":
        ready = service.ready
        await respond_json(send, 200 if ready else 503, {"live": True, "ready": ready, **service.describe()})
    else:
        await respond(send, 200, service.metrics.exposition(), METRICS_TYPE)
    return True
