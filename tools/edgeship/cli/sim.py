"""`edgeship sim`: Run a deployment in the local edge runtime simulator."""

from edgeship.cli._pending import pending_command

cli = pending_command("sim", 5, "Run a deployment in the local edge runtime simulator")
