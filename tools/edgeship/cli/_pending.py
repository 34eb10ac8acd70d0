"""A stand-in for a command group whose issue has not landed yet: it says so plainly."""

from __future__ import annotations

import click

from edgeship.errors import EdgeshipError


def pending_command(name: str, issue: int, what: str) -> click.Command:
    @click.command(name=name, help=f"{what} (not built yet: issue #{issue}).",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def command() -> None:
        raise EdgeshipError(f"'edgeship {name}' is not built yet (issue #{issue}): {what}")

    command.edgeship_pending = True  # type: ignore[attr-defined]
    return command
