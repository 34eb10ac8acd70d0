"""Download a model archive to a file: a size limit, an overall deadline, the sha256 computed on the way."""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from edgeship_sentiment.errors import ModelUpdateError

CHUNK = 1 << 16


def fetch(uri: str, dest: Path, *, max_bytes: int, timeout: float) -> str:
    """Write ``uri`` to ``dest``; returns its sha256. Refuses more than ``max_bytes`` or ``timeout`` s."""
    parts = urlsplit(uri)
    deadline = time.monotonic() + timeout
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        try:
            with path.open("rb") as source:
                return _copy(source, dest, max_bytes, deadline, expected=None)
        except OSError as exc:
            raise ModelUpdateError(f"cannot read {uri}: {exc.strerror or exc}") from None
    request = urllib.request.Request(uri, headers={"User-Agent": "edgeship-sentiment"})
    try:
        # the socket timeout bounds each read; the deadline bounds the whole download
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if expected is not None and expected > max_bytes:
                raise ModelUpdateError(f"{uri} is {expected} bytes, more than the limit of {max_bytes}")
            return _copy(response, dest, max_bytes, deadline, expected)
    except urllib.error.HTTPError as exc:
        raise ModelUpdateError(f"{uri} answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise ModelUpdateError(f"cannot reach {uri}: {exc.reason}") from None
    except http.client.IncompleteRead as exc:
        raise ModelUpdateError(
            f"truncated download from {uri}: got {len(exc.partial)} more bytes, {exc.expected} missing"
        ) from None
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise ModelUpdateError(f"download of {uri} failed: {exc}") from None


def _copy(source: BinaryIO, dest: Path, max_bytes: int, deadline: float, expected: int | None) -> str:
    digest = hashlib.sha256()
    size = 0
    with dest.open("wb") as out:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise ModelUpdateError(f"the download is larger than the limit of {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise ModelUpdateError("the download took longer than its timeout")
            digest.update(chunk)
            out.write(chunk)
    if expected is not None and size != expected:
        raise ModelUpdateError(f"truncated download: {size} of {expected} bytes")
    return digest.hexdigest()
