"""Shared access signatures, as IoT Hub and the module SDK compute them.

A token is ``SharedAccessSignature sr={quote(uri)}&sig={quote(b64(HMAC-SHA256(key, quote(uri) + "\\n" + se)))}&se={se}``
where ``uri`` is ``{hub_hostname}/devices/{device}/modules/{module}``. These are pure functions;
the hub verifies tokens with them and the workload API signs with them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from dataclasses import dataclass

from edgesim.errors import SimulatorError


class SasTokenError(SimulatorError):
    """A SAS token that is malformed, expired, forged or for another identity."""


def generate_key() -> str:
    """A new base64 symmetric key (32 random bytes), like IoT Hub's generated keys."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sign(key_b64: str, data: bytes) -> str:
    """base64(HMAC-SHA256(base64decode(key), data)): what the workload API's ``sign`` returns."""
    digest = hmac.new(base64.b64decode(key_b64), data, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def module_resource_uri(hub_hostname: str, device_id: str, module_id: str) -> str:
    return f"{hub_hostname}/devices/{device_id}/modules/{module_id}"


def build_token(resource_uri: str, key_b64: str, expiry: int) -> str:
    encoded_uri = urllib.parse.quote(resource_uri, safe="")
    signature = sign(key_b64, f"{encoded_uri}\n{expiry}".encode())
    return f"SharedAccessSignature sr={encoded_uri}&sig={urllib.parse.quote(signature, safe='')}&se={expiry}"


@dataclass(frozen=True)
class ParsedToken:
    resource_uri: str  # decoded
    encoded_resource_uri: str  # as sent, which is what was signed
    signature: str  # decoded base64
    expiry: int


def parse_token(token: str) -> ParsedToken:
    prefix = "SharedAccessSignature "
    if not token.startswith(prefix):
        raise SasTokenError("not a SharedAccessSignature token")
    fields: dict[str, str] = {}
    for part in token[len(prefix) :].split("&"):
        name, sep, value = part.partition("=")
        if not sep or name in fields:
            raise SasTokenError("malformed SAS token")
        fields[name] = value
    try:
        encoded_uri, signature, expiry_text = fields["sr"], fields["sig"], fields["se"]
    except KeyError as exc:
        raise SasTokenError(f"SAS token lacks {exc.args[0]!r}") from None
    if not (expiry_text.isascii() and expiry_text.isdigit()):  # "²".isdigit() is True, int("²") fails
        raise SasTokenError("SAS token expiry is not a number")
    return ParsedToken(
        urllib.parse.unquote(encoded_uri), encoded_uri, urllib.parse.unquote(signature), int(expiry_text)
    )


def verify_token(token: str, expected_resource_uri: str, key_b64: str, now: float | None = None) -> ParsedToken:
    """Check a token against the identity it must be for; raise ``SasTokenError`` otherwise."""
    parsed = parse_token(token)
    if parsed.resource_uri.rstrip("/").lower() != expected_resource_uri.rstrip("/").lower():
        raise SasTokenError("SAS token is for another identity")
    if parsed.expiry <= (time.time() if now is None else now):
        raise SasTokenError("SAS token has expired")
    expected = sign(key_b64, f"{parsed.encoded_resource_uri}\n{parsed.expiry}".encode())
    # compare_digest raises TypeError on non-ASCII str: a signature with such characters is just wrong.
    if not parsed.signature.isascii() or not hmac.compare_digest(expected, parsed.signature):
        raise SasTokenError("SAS token signature does not match")
    return parsed
