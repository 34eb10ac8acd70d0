"""`edgeship build`: Build module images per platform."""

from edgeship.cli._pending import pending_command

cli = pending_command("build", 4, "Build module images per platform")
