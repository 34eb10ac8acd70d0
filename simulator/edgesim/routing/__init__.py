"""edgeHub's route language: one parser and compiler for the simulator's hub and the manifest validator.

router = Router.from_manifest({"r1": 'FROM /messages/modules/a/outputs/* WHERE $body.x > 1 '
                                     'INTO BrokeredEndpoint("/modules/b/inputs/in")'})
[match] = router.match(message)     # match.sink == ModuleInputSink("b", "in")
"""

from edgesim.routing.conditions import UNDEFINED, CompileOptions, Condition, compile_condition
from edgesim.routing.context import EvalContext
from edgesim.routing.errors import RouteSyntaxError
from edgesim.routing.model import ModuleInputSink, Route, RouteSource, Sink, UpstreamSink, message_path
from edgesim.routing.route import parse_route
from edgesim.routing.router import RouteMatch, Router

__all__ = [
    "UNDEFINED",
    "CompileOptions",
    "Condition",
    "EvalContext",
    "ModuleInputSink",
    "Route",
    "RouteMatch",
    "RouteSource",
    "RouteSyntaxError",
    "Router",
    "Sink",
    "UpstreamSink",
    "compile_condition",
    "message_path",
    "parse_route",
]
