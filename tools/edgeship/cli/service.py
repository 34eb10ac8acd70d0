"""`edgeship service`: Manage services started by deploy."""

from edgeship.cli._pending import pending_command

cli = pending_command("service", 7, "Manage services started by deploy")
