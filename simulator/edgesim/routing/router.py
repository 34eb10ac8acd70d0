"""The routes of a deployment, compiled once, matched per message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgesim.message import Message
from edgesim.routing.context import EvalContext
from edgesim.routing.errors import RouteSyntaxError
from edgesim.routing.model import Route, Sink
from edgesim.routing.route import parse_route


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    sink: Sink
    priority: int
    ttl_secs: int | None


def _route_entry(name: str, value: object) -> Route:
    if isinstance(value, str):
        return parse_route(value, name)
    if not isinstance(value, Mapping):
        raise RouteSyntaxError("a route must be a string or an object with 'route'", 0, name)
    text = value.get("route")
    if not isinstance(text, str):
        raise RouteSyntaxError("the route object has no 'route' string", 0, name)
    priority = value.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
        raise RouteSyntaxError(f"priority must be an integer 0-9, got {priority!r}", 0, name)
    ttl = value.get("timeToLiveSecs")
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0):
        raise RouteSyntaxError(f"timeToLiveSecs must be a non-negative integer, got {ttl!r}", 0, name)
    return parse_route(text, name, priority=priority, ttl_secs=ttl or None)


class Router:
    def __init__(self, routes: tuple[Route, ...]) -> None:
        self.routes = routes

    @classmethod
    def from_manifest(cls, routes: Mapping[str, object]) -> Router:
        """``routes``: the manifest's route strings or ``{"route", "priority", "timeToLiveSecs"}`` objects."""
        return cls(tuple(_route_entry(name, value) for name, value in routes.items()))

    def match(self, message: Message) -> list[RouteMatch]:
        """Every matching route, highest priority (0) first; one delivery per route, as edgeHub does."""
        context = EvalContext(message)
        matches = [
            RouteMatch(route, route.sink, route.priority, route.ttl_secs)
            for route in self.routes
            if route.source.matches(message) and (route.condition is None or route.condition.evaluate(context) is True)
        ]
        matches.sort(key=lambda m: m.priority)
        return matches
