"""Route checks: every route compiles with the simulator's parser (``edgesim.routing.parse_route``,
edgeHub's grammar and type rules, one for both), names modules the deployment has, and inputs/outputs
those modules declare. A route naming a module the deployment lacks is a warning, not an error: edgeHub
accepts it (nothing flows through it) and layered deployments rely on routes to modules a layer adds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgeship.manifest.checks import HUB, dig, user_modules
from edgeship.manifest.context import Findings
from edgeship.manifest.modulejson import Interface
from edgeship.manifest.problems import JsonPath
from edgesim.routing import ModuleInputSink, Route, RouteSyntaxError, parse_route


@dataclass(frozen=True)
class ParsedRoute:
    name: str
    text: str
    path: JsonPath  # of the route string
    route: Route


def _source_scope(route: Route) -> tuple[str | None, str | None, bool]:
    """(module or None for any, output or None for any, whether the source is module messages at all)."""
    source = route.source
    if source.kind in ("twin_change", "other"):
        return None, None, False
    if source.kind in ("all", "telemetry", "modules"):
        return None, None, True
    return source.module, source.output, True


def parse_routes(findings: Findings, document: Mapping[str, object]) -> list[ParsedRoute]:
    routes = dig(document, "modulesContent", "$edgeHub", "properties.desired").get("routes")
    parsed: list[ParsedRoute] = []
    if not isinstance(routes, dict):
        return parsed
    for name, value in routes.items():
        path: JsonPath = (*HUB, "routes", name)
        if isinstance(value, dict):
            value, path = value.get("route"), (*path, "route")
        if not isinstance(value, str):
            continue  # the schema reports the shape
        try:
            route = parse_route(value, name)
        except RouteSyntaxError as exc:
            findings.error(
                path,
                f"route {name!r} does not parse: {exc.reason}",
                "route-syntax",
                string_index=max(0, min(exc.position, len(value))),
            )
            continue
        parsed.append(ParsedRoute(name, value, path, route))
        if route.trailing is not None:
            findings.warning(
                path,
                f"route {name!r}: edgeHub ignores the text after the sink {value[route.trailing :].strip()[:40]!r}",
                "route-trailing",
                string_index=route.trailing,
            )
        if route.source.kind == "other":
            findings.warning(
                path,
                f"route {name!r}: source {route.source.text!r} matches no message (sources are "
                "/*, /messages/*, /messages/modules/<m>[/outputs/<o>], /twinChangeNotifications)",
                "route-source",
                string_index=max(0, value.find(route.source.text)),
            )
    return parsed


def check_route_targets(
    findings: Findings,
    document: Mapping[str, object],
    parsed: list[ParsedRoute],
    interfaces: Mapping[str, Interface | None],
) -> None:
    """``interfaces``: deployed module name -> its declared interface (None: declares nothing)."""
    deployed = set(user_modules(document.get("modulesContent", {})))
    deployed_lower = {name.lower(): name for name in deployed}
    covered: dict[str, set[str] | None] = {}  # module -> outputs routed (None: all of them)
    any_module_routed = False
    for item in parsed:
        module, output, from_modules = _source_scope(item.route)
        if from_modules and module is None:
            any_module_routed = True
        if module is not None:
            where = max(0, item.text.find(f"/{module}"))
            module = deployed_lower.get(module.lower(), module)  # edgeHub matches sources ignoring case
            if module not in deployed:
                findings.warning(
                    item.path,
                    f"route {item.name!r} reads from module {module!r}, which the deployment "
                    "does not define (edgeHub accepts it; nothing flows until a module of that name "
                    "runs)",
                    "route-unknown-module",
                    string_index=where + 1,
                )
            else:
                interface = interfaces.get(module)
                if output is not None and interface is not None and output not in interface.outputs:
                    findings.error(
                        item.path,
                        f"route {item.name!r}: module {module!r} declares no output {output!r} "
                        f"(it declares: {', '.join(interface.outputs) or 'none'})",
                        "route-unknown-output",
                        string_index=max(0, item.text.find(f"/{output}", where)) + 1,
                    )
                if output is None:
                    covered[module] = None
                elif covered.get(module, set()) is not None:
                    covered.setdefault(module, set()).add(output)  # type: ignore[union-attr]
        sink = item.route.sink
        if isinstance(sink, ModuleInputSink):
            where = max(0, item.text.find(f"/modules/{sink.module}/")) + len("/modules/")
            if sink.module not in deployed:
                findings.warning(
                    item.path,
                    f"route {item.name!r} delivers to module {sink.module!r}, which the "
                    "deployment does not define (edgeHub accepts it; the messages wait for that module)",
                    "route-unknown-module",
                    string_index=where,
                )
            else:
                interface = interfaces.get(sink.module)
                if interface is not None and sink.input not in interface.inputs:
                    findings.error(
                        item.path,
                        f"route {item.name!r}: module {sink.module!r} declares no input "
                        f"{sink.input!r} (it declares: {', '.join(interface.inputs) or 'none'})",
                        "route-unknown-input",
                        string_index=max(0, item.text.find(f"/inputs/{sink.input}")) + len("/inputs/"),
                    )
    for module, interface in interfaces.items():
        path = ("modulesContent", "$edgeAgent", "properties.desired", "modules", module)
        if interface is None:
            findings.info(
                path,
                f"module {module!r} declares no inputs/outputs (no 'edgeship' key in its module.json "
                "or no module.json found); its routes are not checked",
                "interface-undeclared",
                key=True,
            )
            continue
        if any_module_routed:
            continue
        routed = covered.get(module, set())
        if routed is None:
            continue
        for output in interface.outputs:
            if output not in routed:
                findings.warning(
                    path,
                    f"output {output!r} of module {module!r} is not routed anywhere; its messages are dropped",
                    "unused-output",
                    key=True,
                )
