"""``[SELECT *] FROM <path> [WHERE <condition>] INTO <sink>``, read as edgeHub's RouteFactory reads it."""

from __future__ import annotations

from edgesim.routing.conditions import CompileOptions, Condition, compile_node
from edgesim.routing.errors import RouteSyntaxError
from edgesim.routing.model import ModuleInputSink, Route, Sink, UpstreamSink, parse_source
from edgesim.routing.parser import TokenStream, describe

MAX_ROUTE_CHARS = 64 * 1024


def _source(stream: TokenStream) -> str:
    if not stream.at("/"):
        raise stream.fail("expected a source such as /messages/modules/<module>/outputs/<output>")
    parts: list[str] = []
    while stream.at("/"):
        parts.append(stream.advance().text)
        if not stream.at("*", "ID"):
            raise stream.fail(f"expected a name or * after '/' in the source, found {describe(stream.token)}")
        parts.append(stream.advance().text)
    return "".join(parts)


def _sink(stream: TokenStream) -> Sink:
    token = stream.token
    if token.kind == "SYS_PROP":
        stream.advance()
        if token.text.lower() != "$upstream":
            raise stream.fail(f"system endpoint {token.text!r} is not supported (only $upstream)", token)
        return UpstreamSink()
    if token.kind == "ID" and stream.peek().kind == "(":
        stream.advance()
        stream.advance()
        target = stream.token
        if target.kind != "STRING":
            raise stream.fail('expected a quoted endpoint such as "/modules/<module>/inputs/<input>"')
        stream.advance()
        stream.expect(")", "')'")
        if token.text.lower() != "brokeredendpoint":
            raise stream.fail(f"function endpoint {token.text!r} is not supported (only BrokeredEndpoint)", token)
        # EndpointFactory: trim, drop one leading and one trailing '/', split; four parts, module and input
        # are the second and fourth (it does not check the words "modules" and "inputs").
        address = target.text[1:-1].strip()
        address = address[1:] if address.startswith("/") else address
        address = address[:-1] if address.endswith("/") else address
        items = address.split("/")
        if len(items) != 4 or not address:
            raise stream.fail(f"endpoint {target.text[1:-1]!r} is not /modules/<module>/inputs/<input>", target)
        return ModuleInputSink(items[1], items[3])
    raise stream.fail(f'expected $upstream or BrokeredEndpoint("..."), found {describe(token)}')


def parse_route(
    text: str,
    name: str = "",
    *,
    priority: int = 0,
    ttl_secs: int | None = None,
    options: CompileOptions | None = None,
    compile_condition: bool = True,
) -> Route:
    """Parse and compile one route; ``RouteSyntaxError`` (one line, with the column) for anything edgeHub
    refuses, whether a syntax error or a type error in the condition. ``compile_condition=False`` stops
    after the syntax, as edgeHub's RouteFactory does (its Evaluator compiles the condition later)."""
    if not isinstance(text, str):
        raise RouteSyntaxError(f"a route must be a string, got {type(text).__name__}", 0, name)
    if len(text) > MAX_ROUTE_CHARS:
        raise RouteSyntaxError("route is longer than 64 KiB", 0, name)
    stream = TokenStream(text, name)
    if stream.at("SELECT"):
        stream.advance()
        stream.expect("*", "'*' after SELECT")
    stream.expect("FROM", "FROM")
    source = parse_source(_source(stream))
    condition: Condition | None = None
    condition_text = "true"
    if stream.at("WHERE"):
        stream.advance()
        first = stream.token
        node = stream.condition()
        last = stream.tokens[stream.index - 1]
        if not stream.at("INTO"):
            raise stream.fail(f"expected INTO, found {describe(stream.token)}")
        condition_text = text[first.position : last.position + len(last.text)]
        if compile_condition:
            compile_options = options or CompileOptions(twin_change_source=source.kind == "twin_change")
            condition = compile_node(condition_text, node, name, compile_options)
    stream.expect("INTO", "INTO")
    sink = _sink(stream)
    trailing = None if stream.at("EOF") else stream.token.position
    return Route(name, text, source, condition, sink, priority, ttl_secs, condition_text, trailing)


__all__ = ["MAX_ROUTE_CHARS", "parse_route"]
