"""`edgeship deploy`: Deploy a registered model locally."""

from edgeship.cli._pending import pending_command

cli = pending_command("deploy", 7, "Deploy a registered model locally")
