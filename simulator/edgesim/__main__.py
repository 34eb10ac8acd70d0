"""``python -m edgesim MANIFEST [options]``: run a deployment without the edgeship CLI.

The same simulator as ``edgeship sim start`` (which adds live status and the other commands),
for environments that install only ``edgesim``. Stops on SIGINT/SIGTERM. The options and their
defaults are ``sim start``'s; both read the defaults from ``edgesim.defaults``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from edgesim.agent import BackoffConfig, split_assignments
from edgesim.defaults import (
    DEFAULT_BACKOFF_UNIT_SECS,
    DEFAULT_HOST,
    DEFAULT_MODULES_DIR,
    DEFAULT_RUNTIME,
    DEFAULT_STATE_DIR,
    DEFAULT_STOP_GRACE_SECS,
    RUNTIMES,
)
from edgesim.errors import SimulatorError
from edgesim.runtime import Simulator, SimulatorConfig


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edgesim", description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--modules-dir", type=Path, default=DEFAULT_MODULES_DIR)
    parser.add_argument("--module", action="append", default=[], metavar="NAME=COMMAND")
    parser.add_argument("--runtime", choices=RUNTIMES, default=DEFAULT_RUNTIME)
    parser.add_argument("--backoff-unit", type=float, default=DEFAULT_BACKOFF_UNIT_SECS)
    parser.add_argument("--stop-grace", type=float, default=DEFAULT_STOP_GRACE_SECS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        commands = split_assignments(args.module, "--module")
        config = SimulatorConfig(
            manifest=args.manifest,
            state_dir=args.state,
            host=args.host,
            modules_dir=args.modules_dir,
            module_commands=commands,
            runtime=args.runtime,
            backoff=BackoffConfig(cool_off_unit_secs=args.backoff_unit),
            stop_grace_secs=args.stop_grace,
        )

        async def run() -> None:
            await Simulator(config).run()

        asyncio.run(run())
    except SimulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
