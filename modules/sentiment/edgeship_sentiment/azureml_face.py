"""Azure ML's inference server contract (``azmlinfsrv`` 1.5.1) for a hosted entry script.

Anything that talks to ``azmlinfsrv`` talks to this face; a test sends the same requests to both
and compares status, the headers that matter and the body:

- ``GET /`` answers ``Healthy``; ``GET /swagger.json[?version=2|3|3.1]`` serves the user's
  ``swagger.json`` / ``swagger<version>.json`` from ``AML_APP_ROOT`` (default: the script's
  folder), else one generated for an open ``run()`` (``swagger.py``); other versions are 404.
- ``POST /score`` calls ``run(body as UTF-8 text)``; ``GET /score`` calls it with the query
  parameters as a JSON object (each value read as JSON where it parses, repeated keys a list).
  The return value is the reply as JSON (``None`` is ``{}``), with ``x-ms-run-fn-exec-ms``. A
  ``run()`` that raises is a 500 with ``x-ms-run-function-failed: True``; a result that is not
  JSON a 500 without it; a body that is not UTF-8 a 400; past ``SCORING_TIMEOUT_MS`` a 500.
- Request ids: ``x-request-id`` is echoed or generated (a uuid4), at most 100 characters (else
  431); ``x-ms-request-id`` and ``x-ms-client-request-id`` as the server derives them.
- Errors are ``{"message": ...}``.

Departures (``README.md``): ``run()`` decorated with ``inference-schema`` or ``@rawhttp`` and
AMLResponse return values are not supported (they import Flask); ``run()`` calls are serialised
within a process, as in one azmlinfsrv worker; ``WORKER_COUNT`` processes share the socket
(``workers.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl

from edgeship_sentiment import swagger
from edgeship_sentiment.entry_script import EntryScript
from edgeship_sentiment.health_routes import common_routes
from edgeship_sentiment.http_server import (
    BodyTooLargeError,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    respond,
    respond_json,
)
from edgeship_sentiment.jsontypes import JSONValue
from edgeship_sentiment.payloads import MAX_BODY_BYTES
from edgeship_sentiment.service import SentimentService

HEADER_LIMIT = 100
DEFAULT_SCORING_TIMEOUT_MS = 3600 * 1000
# x-ms-server-version: azmlinfsrv sends "azmlinfsrv/<version>"; this is module.json's version.
SERVER_VERSION = "edgeship-sentiment/0.1.0"
SWAGGER_VERSIONS = {"2": "2", "2.0": "2", "3": "3", "3.0": "3", "3.1": "3.1"}
NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again."
)
NOT_ALLOWED = "The method is not allowed for the requested URL."
SCRIPT_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."
INTERNAL = "An unexpected internal error occurred. Check the logs for more info."
ROUTES = {"/": ("GET",), "/swagger.json": ("GET",), "/score": ("GET", "POST", "OPTIONS")}


def scoring_timeout_ms() -> int:
    value = os.environ.get("SCORING_TIMEOUT_MS", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_SCORING_TIMEOUT_MS


def _query_value(text: str) -> JSONValue:
    try:
        value: JSONValue = json.loads(text)
        return value
    except ValueError:
        return text


def query_input(query_string: bytes) -> str:
    """``GET /score?a=1&b=x&b=y`` -> ``{"a": 1, "b": ["x", "y"]}`` as the JSON text ``run()`` gets."""
    grouped: dict[str, list[str]] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        grouped.setdefault(key, []).append(value)
    parsed = {k: _query_value(v[0]) if len(v) == 1 else [_query_value(x) for x in v] for k, v in grouped.items()}
    return json.dumps(parsed)


class _RequestIds:
    """The three request-id headers, derived as azmlinfsrv derives them (or the 431 it answers)."""

    def __init__(self, scope: Scope) -> None:
        self.error: str | None = None
        self.request_id = self.legacy = self.client = ""
        request_id = header(scope, b"x-request-id") or str(uuid.uuid4())
        if len(request_id) > HEADER_LIMIT:
            self.error = f"x-request-id must not exceed {HEADER_LIMIT} characters"
            return
        self.request_id = request_id
        legacy = header(scope, b"x-ms-request-id") or ""
        client = header(scope, b"x-ms-client-request-id") or ""
        if legacy:
            client = client or legacy
        else:
            legacy = client or request_id
        if len(legacy) > HEADER_LIMIT or len(client) > HEADER_LIMIT:
            self.error = f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} characters"
            return
        self.legacy, self.client = legacy, client

    def headers(self, scope: Scope) -> list[tuple[str, str]]:
        out = [
            (name, value)
            for name, value in (
                ("x-request-id", self.request_id),
                ("x-ms-request-id", self.legacy),
                ("x-ms-client-request-id", self.client),
            )
            if value
        ]
        trace = header(scope, b"traceid")
        if trace is not None:
            out.append(("TraceId", trace))
        return out


class AzureMLApp:
    """The entry-script face: azmlinfsrv's routes plus the module's ``/health`` and ``/metrics``."""

    def __init__(self, service: SentimentService) -> None:
        assert service.entry_script is not None
        self.service = service
        self.script: EntryScript = service.entry_script
        self.timeout_ms = scoring_timeout_ms()
        self.server_version = SERVER_VERSION
        # run() is not assumed thread-safe: one thread calls it, as one azmlinfsrv worker does.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="entry-script")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if await common_routes(self.service, scope, send):
            return
        path, method = scope["path"], scope["method"]
        failed = [("x-ms-run-function-failed", "False")]
        allowed = ROUTES.get(path)
        if allowed is None:
            await respond_json(send, 404, {"message": NOT_FOUND}, failed)
            return
        if method not in allowed and not (method == "HEAD" and "GET" in allowed):
            await respond_json(send, 405, {"message": NOT_ALLOWED}, failed)  # no Allow header, as there
            return
        ids = _RequestIds(scope)
        extra = [*ids.headers(scope), ("x-ms-server-version", self.server_version)]
        if ids.error is not None:
            await respond_json(send, 431, {"message": ids.error}, [*failed, *extra])
            return
        if path == "/":
            await respond(send, 200, b"Healthy", "text/html; charset=utf-8", extra)
        elif path == "/swagger.json":
            await self._swagger(scope, send, extra, failed)
        elif method == "OPTIONS":
            await respond(send, 200, b"", "text/html; charset=utf-8", [*failed, *extra])
        else:
            await self._score(scope, receive, send, extra)

    async def _swagger(
        self, scope: Scope, send: Send, extra: list[tuple[str, str]], failed: list[tuple[str, str]]
    ) -> None:
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        version = query.get("version", "2")
        canonical = SWAGGER_VERSIONS.get(version)
        if canonical is None:
            message = f"Swagger version [{version}] is not valid. Supported versions: [2, 3, 3.1]."
            await respond_json(send, 404, {"message": message}, [*failed, *extra])
            return
        document = self._user_swagger(canonical)
        await respond_json(
            send, 200, document if document is not None else swagger.generated(canonical), [*failed, *extra]
        )

    def _user_swagger(self, canonical: str) -> JSONValue:
        """The user's own document, from ``AML_APP_ROOT`` (default: the script's folder)."""
        root = Path(os.environ.get("AML_APP_ROOT") or self.script.path.parent)
        names = ["swagger.json", "swagger2.json"] if canonical == "2" else [f"swagger{canonical}.json"]
        for name in names:
            try:
                document: JSONValue = json.loads((root / name).read_text(encoding="utf-8"))
                return document
            except FileNotFoundError:
                continue
            except (OSError, ValueError):
                return None  # as azmlinfsrv would fail on it, but answering: the generated one serves
        return None

    async def _score(self, scope: Scope, receive: Receive, send: Send, extra: list[tuple[str, str]]) -> None:
        metrics = self.service.metrics
        if scope["method"] == "GET":
            data = query_input(scope["query_string"])
        else:
            try:
                body = await read_body(receive, MAX_BODY_BYTES)
            except BodyTooLargeError as exc:
                metrics.observe_error("http", "bad_request")
                await respond_json(send, 413, {"message": str(exc)}, [("x-ms-run-function-failed", "False"), *extra])
                return
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                metrics.observe_error("http", "bad_request")
                await respond_json(
                    send,
                    400,
                    {"message": f"Input cannot be decoded as UTF-8: {exc}"},
                    [("x-ms-run-function-failed", "False"), *extra],
                )
                return
        headers = {bytes(k).decode("latin-1").title(): bytes(v).decode("latin-1") for k, v in scope["headers"]}
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, self.script.call, data, headers)
        try:
            output = await asyncio.wait_for(asyncio.shield(call), self.timeout_ms / 1000)
        except TimeoutError:
            metrics.observe_error("http", "script")
            await respond_json(
                send,
                500,
                {"message": f"Scoring timeout after {self.timeout_ms} ms"},
                [("x-ms-run-function-failed", "True"), *extra],
            )
            return
        except Exception:  # noqa: BLE001 - the user's run() may raise anything (azmlinfsrv catches all too)
            metrics.observe_error("http", "script")
            await respond_json(send, 500, {"message": SCRIPT_FAILED}, [("x-ms-run-function-failed", "True"), *extra])
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        try:
            body_out = json.dumps({} if output is None else output).encode("utf-8")
        except (TypeError, ValueError):
            metrics.observe_error("http", "script")
            await respond_json(send, 500, {"message": INTERNAL}, [("x-ms-run-function-failed", "False"), *extra])
            return
        metrics.observe_request("http", elapsed_ms / 1000, 1)
        await respond(
            send,
            200,
            body_out,
            "application/json",
            [("x-ms-run-function-failed", "False"), *extra, ("x-ms-run-fn-exec-ms", f"{elapsed_ms:.3f}")],
        )
