"""Model names, references (``name[:version]``) and ``K=V`` pairs: checked before anything is written."""

from __future__ import annotations

import re

from edgeship.errors import InvalidNameError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH or ".." in name:  # match() allows "x\n"
        raise InvalidNameError(
            f"invalid model name {name!r}: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, no '..', at most 255 characters)"
        )
    return name


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """``sentiment`` -> (``sentiment``, None); ``sentiment:3`` -> (``sentiment``, 3)."""
    name, sep, version_text = ref.partition(":")
    validate_name(name)
    if not sep:
        return name, None
    if not version_text.isdigit() or int(version_text) < 1:
        raise InvalidNameError(f"invalid model version {version_text!r} in {ref!r}: expected a positive integer")
    return name, int(version_text)


def parse_pairs(pairs: tuple[str, ...] | list[str], what: str) -> dict[str, str]:
    """``("k=v", ...)`` -> ``{"k": "v"}``; the key must be non-empty and unique."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidNameError(f"invalid {what} {pair!r}: expected KEY=VALUE")
        if key in result:
            raise InvalidNameError(f"{what} {key!r} given twice")
        result[key] = value
    return result
