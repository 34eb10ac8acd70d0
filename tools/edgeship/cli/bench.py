"""`edgeship bench`: Run the benchmarks."""

from edgeship.cli._pending import pending_command

cli = pending_command("bench", 8, "Run the benchmarks")
