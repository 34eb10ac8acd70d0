"""The one exception tree of the ``edgesim`` package.

SimulatorError
├── UnknownModuleError          the control side named a module the deployment does not have
├── HubError                    the hub could not do what the control side asked
│   ├── MethodTargetNotFoundError
│   └── MethodTimeoutError
└── (parts add their own subclasses, e.g. RouteError for the route grammar, StoreFullError)
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error the simulator raises on purpose; the message is one line."""


class UnknownModuleError(SimulatorError):
    """A module name that is not in the deployment (the control API answers 404)."""


class HubError(SimulatorError):
    """The hub could not do what the control side asked."""


class MethodTargetNotFoundError(HubError):
    """The called module or device is unknown, not connected, or does not listen for methods (edgeHub: 404)."""


class MethodTimeoutError(HubError):
    """The called module or device did not answer in time (edgeHub: 504)."""
