"""The one exception tree of the ``edgesim`` package.

    SimulatorError
    └── (parts add their own subclasses here, e.g. RouteError for the route grammar)
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error the simulator raises on purpose; the message is one line."""
