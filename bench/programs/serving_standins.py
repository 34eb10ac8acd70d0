"""The stand-ins bench_serving compares the module against, each served until terminated.

    python bench/programs/serving_standins.py fixed-wait|aiohttp|ceiling --port P [--model-dir D]

- fixed-wait: the module's HTTP face with the batcher as it was before issue #14 (wait up to
  ``max_batch_delay_ms`` for company, always): what adaptive batching must not lose under load;
- aiohttp: the same service behind aiohttp instead of uvicorn: the measurement behind the choice;
- ceiling: the module's HTTP server answering every ``POST /score`` with a constant reply and no
  scoring: what the HTTP stack and the load generator reach on this machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any


def serve_fixed_wait(model_dir: Path, port: int) -> None:
    """The module's HTTP face with the batcher as it was: wait up to 2 ms for company, always."""
    import queue

    from edgeship_sentiment import batcher as batcher_module
    from edgeship_sentiment.http_face import SentimentHTTPServer
    from edgeship_sentiment.service import SentimentService

    class FixedWait(batcher_module.MicroBatcher):
        def _gather(self, first: Any, idle: bool = True) -> Any:
            batch, texts = [first], len(first.texts)
            deadline = time.perf_counter() + self.settings.max_batch_delay_ms / 1000
            while texts < self.settings.max_batch:
                remaining = deadline - time.perf_counter()
                try:
                    item: Any = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is batcher_module._STOP:
                    return batch, None, True
                if texts + len(item.texts) > self.settings.max_batch:
                    return batch, item, False
                batch.append(item)
                texts += len(item.texts)
            return batch, None, False

    batcher_module.MicroBatcher = FixedWait  # type: ignore[misc]
    import edgeship_sentiment.service as service_module

    service_module.MicroBatcher = FixedWait  # type: ignore[attr-defined]
    service = SentimentService(model_dir, capture_dir=Path(tempfile.mkdtemp()))
    SentimentHTTPServer(service, "127.0.0.1", port).start_background()
    threading_event_forever()


def serve_aiohttp(model_dir: Path, port: int) -> None:
    """The same service and request handling behind aiohttp (TCP_NODELAY on, as aiohttp sets it)."""
    import asyncio

    from aiohttp import web

    from edgeship_sentiment.service import SentimentService

    service = SentimentService(model_dir, capture_dir=Path(tempfile.mkdtemp()))

    async def score(request: web.Request) -> web.Response:
        body = await request.read()
        reply = await asyncio.wrap_future(service.submit(body, "http", request.headers.get("x-request-id")))
        return web.Response(body=reply.body(), status=reply.status, content_type="application/json")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    app = web.Application(client_max_size=256 * 1024)
    app.router.add_post("/score", score)
    app.router.add_get("/", health)
    web.run_app(app, host="127.0.0.1", port=port, backlog=2048, access_log=None, print=None)


def serve_ceiling(port: int) -> None:
    """The module's HTTP server with a constant reply: the HTTP stack's own cost, no scorer."""
    from edgeship_sentiment.http_server import HTTPServer, Receive, Scope, Send, read_body, respond

    reply = json.dumps({"label": "POSITIVE", "score": 0.9512345678, "elapsed_time": 0.0001234}).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive, 256 * 1024)
        await respond(send, 200, reply, "application/json")

    HTTPServer(app, "127.0.0.1", port).start_background()
    threading_event_forever()


def threading_event_forever() -> None:
    import threading

    threading.Event().wait()  # serve until terminated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["fixed-wait", "aiohttp", "ceiling"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-dir", type=Path)
    args = parser.parse_args()
    if args.kind == "ceiling":
        serve_ceiling(args.port)
    elif args.model_dir is None:
        parser.error(f"{args.kind} needs --model-dir")
    else:
        (serve_fixed_wait if args.kind == "fixed-wait" else serve_aiohttp)(args.model_dir, args.port)


if __name__ == "__main__":
    main()
