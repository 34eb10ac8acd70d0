"""`edgeship model`: Register, list, show, download and delete models."""

from edgeship.cli._pending import pending_command

cli = pending_command("model", 3, "Register, list, show, download and delete models")
