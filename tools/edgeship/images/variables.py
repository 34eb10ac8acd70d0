"""``${VAR}`` and ``${VAR:-default}`` in module.json, as iotedgedev expands them from ``.env``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from edgeship.errors import ConfigError

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str, variables: Mapping[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = variables.get(name) or default
        if value is None:
            raise ConfigError(f"{where}: ${{{name}}} is not set (in .env or the environment)")
        return value

    return _PLACEHOLDER.sub(replace, text)


def load_variables(env_file: Path | None) -> dict[str, str]:
    """``.env`` (when given or present in the working folder) overlaid by the process environment."""
    from edgeship.manifest.dotenv import load_dotenv

    path = env_file if env_file is not None else Path(".env")
    values: dict[str, str] = {}
    if env_file is not None or path.is_file():
        values.update(load_dotenv(path))
    values.update(os.environ)
    return values
