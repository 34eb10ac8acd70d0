"""Route errors: one line, with the route's name and the column of the problem."""

from __future__ import annotations

from edgesim.errors import SimulatorError


class RouteSyntaxError(SimulatorError):
    def __init__(self, message: str, position: int, route_name: str = "") -> None:
        self.reason = message
        self.position = position
        self.route_name = route_name
        where = f"route '{route_name}': " if route_name else ""
        super().__init__(f"{where}{message} at column {position + 1}")
