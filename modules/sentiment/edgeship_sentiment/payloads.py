"""One request format for every face: ``{"text": ...}`` or ``{"texts": [...]}`` as JSON bytes.

Bad input is a ``BadRequestError`` with a message meant for the sender; nothing here raises
anything else, whatever the bytes (tested with random bytes, deep nesting and huge strings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from edgeship_sentiment.errors import BadRequestError
from edgeship_sentiment.scorer import MAX_TEXT_BYTES

MAX_BODY_BYTES = 256 * 1024
MAX_TEXTS = 4096


@dataclass(frozen=True)
class ScoreRequest:
    texts: tuple[str, ...]
    batch: bool  # True when the sender used "texts" (the reply is a list)
    correlation_id: str | None = None


def decode_body(body: bytes | str) -> str:
    if isinstance(body, bytes):
        if len(body) > MAX_BODY_BYTES:
            raise BadRequestError(f"body is larger than {MAX_BODY_BYTES} bytes")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequestError(f"body is not valid UTF-8 (byte {exc.start})") from None
    if len(body.encode("utf-8", errors="surrogatepass")) > MAX_BODY_BYTES:
        raise BadRequestError(f"body is larger than {MAX_BODY_BYTES} bytes")
    return body


def parse_request(body: bytes | str) -> ScoreRequest:
    text = decode_body(body)
    try:
        data = json.loads(text)
    except RecursionError:
        raise BadRequestError("body is nested too deeply") from None
    except ValueError as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequestError('expected a JSON object {"text": ...} or {"texts": [...]}')
    correlation = data.get("correlation_id", data.get("id"))
    correlation_id = (
        str(correlation) if isinstance(correlation, str | int) and not isinstance(correlation, bool) else None
    )
    if "text" in data:
        value = data["text"]
        if not isinstance(value, str):
            raise BadRequestError(f"'text' must be a string, got {type(value).__name__}")
        if len(value.encode("utf-8", errors="surrogatepass")) > MAX_TEXT_BYTES:
            raise BadRequestError(f"'text' is larger than {MAX_TEXT_BYTES} bytes")
        return ScoreRequest((value,), False, correlation_id)
    if "texts" in data:
        values = data["texts"]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadRequestError("'texts' must be a list of strings")
        if len(values) > MAX_TEXTS:
            raise BadRequestError(f"'texts' holds {len(values)} items, at most {MAX_TEXTS} are allowed")
        return ScoreRequest(tuple(values), True, correlation_id)
    raise BadRequestError('expected a JSON object with "text" (a string) or "texts" (a list of strings)')
