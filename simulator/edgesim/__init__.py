"""edgesim: a local IoT Edge runtime (edgeHub + edgeAgent) that runs deployments offline."""

from edgesim.errors import SimulatorError

__all__ = ["SimulatorError"]
