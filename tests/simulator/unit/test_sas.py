"""SAS tokens as IoT Hub documents them ("Control access to IoT Hub with shared access signatures").

A token is ``SharedAccessSignature sr={URL-encoded resourceURI}&sig={URL-encoded signature}&se={expiry}``
where the signature is base64(HMAC-SHA256(base64-decoded key, "{URL-encoded resourceURI}\\n{expiry}"))
and ``se`` is seconds since the epoch. The expected values are computed here from that definition
with the standard library, independently of ``edgesim.sas``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import pytest

from edgesim import sas

KEY = base64.b64encode(bytes(range(32))).decode()  # a fixed 32-byte key
URI = "myhub.azure-devices.net/devices/dev1/modules/filter"
EXPIRY = 1_900_000_000


def spec_token(uri: str, key_b64: str, expiry: int) -> str:
    encoded = urllib.parse.quote_plus(uri)  # the documented Python sample's encoding of the resource URI
    to_sign = f"{encoded}\n{expiry}".encode()
    signature = base64.b64encode(hmac.new(base64.b64decode(key_b64), to_sign, hashlib.sha256).digest()).decode()
    return f"SharedAccessSignature sr={encoded}&sig={urllib.parse.quote(signature, safe='')}&se={expiry}"


def test_build_token_matches_the_documented_format() -> None:
    assert sas.module_resource_uri("myhub.azure-devices.net", "dev1", "filter") == URI
    assert sas.build_token(URI, KEY, EXPIRY) == spec_token(URI, KEY, EXPIRY)
    assert sas.build_token(URI, KEY, EXPIRY).startswith(
        "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Ffilter&sig="
    )


def test_sign_is_base64_hmac_sha256_of_the_decoded_key() -> None:
    expected = base64.b64encode(hmac.new(bytes(range(32)), b"data", hashlib.sha256).digest()).decode()
    assert sas.sign(KEY, b"data") == expected


def test_generated_keys_are_32_random_bytes_in_base64() -> None:
    keys = {sas.generate_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(key, validate=True)) == 32 for key in keys)


def test_parse_token() -> None:
    parsed = sas.parse_token(spec_token(URI, KEY, EXPIRY))
    assert parsed.resource_uri == URI
    assert parsed.encoded_resource_uri == urllib.parse.quote_plus(URI)
    assert parsed.expiry == EXPIRY
    assert (
        base64.b64decode(parsed.signature)
        == hmac.new(bytes(range(32)), f"{urllib.parse.quote_plus(URI)}\n{EXPIRY}".encode(), hashlib.sha256).digest()
    )


def test_a_valid_token_verifies_before_expiry() -> None:
    token = spec_token(URI, KEY, EXPIRY)
    assert sas.verify_token(token, URI, KEY, now=EXPIRY - 1).expiry == EXPIRY
    # The resource URI compares without case and without a trailing slash, as IoT Hub's does.
    assert sas.verify_token(token, URI.upper() + "/", KEY, now=EXPIRY - 1).resource_uri == URI


def test_a_token_is_expired_at_its_expiry() -> None:
    token = spec_token(URI, KEY, EXPIRY)
    with pytest.raises(sas.SasTokenError, match="expired"):
        sas.verify_token(token, URI, KEY, now=EXPIRY)
    with pytest.raises(sas.SasTokenError, match="expired"):
        sas.verify_token(token, URI, KEY, now=EXPIRY + 3600)


def test_a_token_signed_with_another_key_is_refused() -> None:
    other = base64.b64encode(bytes(32)).decode()
    with pytest.raises(sas.SasTokenError, match="signature"):
        sas.verify_token(spec_token(URI, other, EXPIRY), URI, KEY, now=0)


def tampered(token: str, field: str, value: str) -> str:
    prefix, _, fields = token.partition(" ")
    parts = dict(part.split("=", 1) for part in fields.split("&"))
    parts[field] = value
    return f"{prefix} " + "&".join(f"{k}={v}" for k, v in parts.items())


def test_tampering_with_any_field_is_detected() -> None:
    token = spec_token(URI, KEY, EXPIRY)
    later = tampered(token, "se", str(EXPIRY + 1))  # a longer life under the old signature
    with pytest.raises(sas.SasTokenError, match="signature"):
        sas.verify_token(later, URI, KEY, now=0)
    other_module = URI.replace("filter", "other")
    moved = tampered(token, "sr", urllib.parse.quote_plus(other_module))  # another identity, old signature
    with pytest.raises(sas.SasTokenError, match="signature"):
        sas.verify_token(moved, other_module, KEY, now=0)
    with pytest.raises(sas.SasTokenError, match="another identity"):
        sas.verify_token(token, other_module, KEY, now=0)
    signature = urllib.parse.unquote(token.split("sig=")[1].split("&")[0])
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    with pytest.raises(sas.SasTokenError, match="signature"):
        sas.verify_token(tampered(token, "sig", urllib.parse.quote(flipped, safe="")), URI, KEY, now=0)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "sr=a&sig=b&se=1",  # no SharedAccessSignature prefix
        "SharedAccessSignature sr=a&sig=b",  # no se
        "SharedAccessSignature sr=a&se=1",  # no sig
        "SharedAccessSignature sig=b&se=1",  # no sr
        "SharedAccessSignature sr=a&sig=b&se=1&se=2",  # a field twice
        "SharedAccessSignature sr=a&sig=b&se",  # a field without "="
        "SharedAccessSignature sr=a&sig=b&se=soon",
        "SharedAccessSignature sr=a&sig=b&se=-1",
        "SharedAccessSignature sr=a&sig=b&se=²",  # a digit int() refuses
    ],
)
def test_malformed_tokens_are_sas_token_errors(token: str) -> None:
    with pytest.raises(sas.SasTokenError):
        sas.verify_token(token, URI, KEY, now=0)


def test_a_non_ascii_signature_is_refused_not_crashed() -> None:
    token = f"SharedAccessSignature sr={urllib.parse.quote_plus(URI)}&sig=%C3%A9&se={EXPIRY}"
    with pytest.raises(sas.SasTokenError, match="signature"):
        sas.verify_token(token, URI, KEY, now=0)
