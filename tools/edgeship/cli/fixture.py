"""`edgeship fixture`: Build the reference sentiment model folder."""

from edgeship.cli._pending import pending_command

cli = pending_command("fixture", 3, "Build the reference sentiment model folder")
