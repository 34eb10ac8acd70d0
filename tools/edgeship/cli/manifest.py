"""`edgeship manifest`: Generate and validate deployment manifests."""

from edgeship.cli._pending import pending_command

cli = pending_command("manifest", 6, "Generate and validate deployment manifests")
