"""`edgeship sim`: run a deployment manifest offline in the local edge runtime simulator (edgesim).

``sim start`` runs in the foreground (live status; Ctrl-C / SIGTERM stop everything cleanly);
the other commands talk to it through its control API, found via ``--state DIR``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edgeship.errors import SimulatorClientError
from edgeship.simclient import SimClient, decoded_body
from edgesim import defaults

if TYPE_CHECKING:
    import asyncio

    from rich.console import Console
    from rich.table import Table

    from edgeship.jsontypes import JSONValue
    from edgesim.runtime import Simulator

STATE_OPTION = click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=defaults.DEFAULT_STATE_DIR,
    show_default=True,
    help="State directory of the simulator (certs, logs, twins, stored messages).",
)


@click.group("sim")
def cli() -> None:
    """Run a deployment offline in the local edge runtime simulator (no Docker, no IoT Hub)."""


def _json_argument(text: str, what: str) -> JSONValue:
    try:
        value: JSONValue = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc.msg} at offset {exc.pos})", param_hint=what) from None
    return value


def _assignments(items: Sequence[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=what)
        result[name] = value
    return result


def _status_table(status: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table(title=f"edgesim  hub {status['host']}:{status['hub_port']}  control {status['control_url']}")
    for column in ("module", "status", "runtime", "connected", "restarts", "exit", "pid", "note"):
        table.add_column(column)
    colours = {"running": "green", "backoff": "yellow", "failed": "red", "stopped": "dim"}
    for name, module in sorted(status["modules"].items()):
        runtime = module["runtimeStatus"]
        table.add_row(
            name,
            module["status"],
            f"[{colours.get(runtime, 'white')}]{runtime}[/]",
            "yes" if module["connected"] else "no",
            str(module["restartCount"]),
            "" if module["exitCode"] is None else str(module["exitCode"]),
            "" if module["pid"] is None else str(module["pid"]),
            module["statusDescription"],
        )
    for name, device in sorted((status.get("devices") or {}).items()):
        table.add_row(name, "", "device", "yes" if device["connected"] else "no", "", "", "", "leaf device")
    hub = status.get("hub") or {}
    if hub:
        table.caption = "  ".join(f"{key} {value}" for key, value in sorted(hub.items()))
    extra = [f"metrics {status['metrics_url']}"] if status.get("metrics_url") else []
    extra.append(
        f"gateway {status['host']}:{status['gateway_port']}"
        if status.get("gateway_port")
        else f"gateway off: {status.get('gateway_error') or 'not started'}"
    )
    extra.extend(_store_lines(status))
    table.caption = "\n".join([str(table.caption or ""), *extra]).strip()
    return table


def _store_lines(status: dict[str, Any]) -> list[str]:
    """The link to the cloud and the store's size, under the status table."""
    lines = []
    link, store = status.get("upstream"), status.get("store")
    if link:
        lines.append(f"upstream {link['link']}: {link['pending']} pending, {link['expired']} expired")
    if store:
        limit = store.get("max_size_bytes")
        refused = ", ".join(f"{k} {v}" for k, v in sorted(store.get("refused", {}).items()) if v) or "none refused"
        lines.append(f"store {store['size_bytes']} bytes of {limit if limit is not None else 'no limit'}; {refused}")
    return lines


@cli.command()
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--host",
    default=defaults.DEFAULT_HOST,
    show_default=True,
    help="Address the hub and the control API listen on (a loopback address like 127.0.0.7).",
)
@STATE_OPTION
@click.option(
    "--modules-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=defaults.DEFAULT_MODULES_DIR,
    show_default=True,
    help="Folder holding one folder per module (each run as `python -u main.py`).",
)
@click.option(
    "--module",
    "module_commands",
    multiple=True,
    metavar="NAME=COMMAND",
    help="Run module NAME with COMMAND instead of `python -u main.py` (repeatable).",
)
@click.option(
    "--runtime",
    type=click.Choice(defaults.RUNTIMES),
    default=defaults.DEFAULT_RUNTIME,
    show_default=True,
    help="Run modules as local processes, or their images through a reachable Docker engine.",
)
@click.option(
    "--backoff-unit",
    type=click.FloatRange(min=0),
    default=defaults.DEFAULT_BACKOFF_UNIT_SECS,
    show_default=True,
    help="Restart cool-off unit in seconds (edgeAgent's CoolOffTimeUnitInSeconds).",
)
@click.option(
    "--stop-grace",
    type=click.FloatRange(min=0),
    default=defaults.DEFAULT_STOP_GRACE_SECS,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL when stopping a module.",
)
def start(
    manifest: Path,
    host: str,
    state_dir: Path,
    modules_dir: Path,
    module_commands: tuple[str, ...],
    runtime: str,
    backoff_unit: float,
    stop_grace: float,
) -> None:
    """Run MANIFEST in the foreground until Ctrl-C, SIGTERM or `edgeship sim stop`."""
    import asyncio

    from rich.console import Console

    from edgesim.agent import BackoffConfig
    from edgesim.runtime import Simulator, SimulatorConfig

    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise click.BadParameter(f"{host!r} is not an IP address", param_hint="--host") from None
    config = SimulatorConfig(
        manifest=manifest,
        state_dir=state_dir,
        host=host,
        modules_dir=modules_dir,
        module_commands=_assignments(module_commands, "--module"),
        runtime=runtime,
        backoff=BackoffConfig(cool_off_unit_secs=backoff_unit),
        stop_grace_secs=stop_grace,
    )
    console = Console()

    async def run() -> None:
        simulator = Simulator(config)
        runner = asyncio.create_task(simulator.run())
        started = asyncio.create_task(simulator.wait_started())
        await asyncio.wait({runner, started}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            started.cancel()
            await runner  # start failed: raises its error
            return
        if simulator.hub.gateway_error:  # one line: which features are off, and why
            click.echo(f"warning: {simulator.hub.gateway_error}", err=True)
        if console.is_terminal:
            await _live_status(console, simulator, runner)
        else:
            console.print(
                f"edgesim running: hub {host}:{config.hub_port}, control {simulator.control_url}, "
                f"modules {', '.join(simulator.module_names) or 'none'}",
                soft_wrap=True,
            )
        await runner
        console.print("edgesim stopped")

    asyncio.run(run())


async def _live_status(console: Console, simulator: Simulator, runner: asyncio.Task[None]) -> None:
    import asyncio

    from rich.live import Live

    from edgesim.errors import SimulatorError

    with Live(_status_table(dict(simulator.status())), console=console, refresh_per_second=4) as live:
        while not runner.done():
            try:
                live.update(_status_table(dict(simulator.status())))
            except SimulatorError:  # the simulator is shutting down underneath (its hub is gone): stop refreshing
                break
            await asyncio.wait({runner}, timeout=0.5)


@cli.command()
@click.argument("module")
@click.argument("input_name", metavar="INPUT")
@click.argument("body", metavar="JSON")
@click.option("--property", "properties", multiple=True, metavar="K=V", help="An application property (repeatable).")
@click.option("--message-id", default=None, help="The message's messageId.")
@click.option("--correlation-id", default=None, help="The message's correlationId.")
@STATE_OPTION
def send(
    module: str,
    input_name: str,
    body: str,
    properties: tuple[str, ...],
    message_id: str | None,
    correlation_id: str | None,
    state_dir: Path,
) -> None:
    """Send the JSON message body to MODULE's input INPUT."""
    value = _json_argument(body, "JSON")
    SimClient.from_state_dir(state_dir).send(
        module, input_name, value, _assignments(properties, "--property"), message_id, correlation_id
    )
    click.echo(f"sent to {module}/{input_name}")


def _monitor_line(record: dict[str, Any], as_json: bool) -> str:
    body = decoded_body(record)
    if as_json:
        return json.dumps(
            {
                "seq": record.get("seq"),
                "module": record.get("module"),
                "output": record.get("output"),
                "body": body,
                "properties": record.get("properties", {}),
                "system_properties": record.get("system_properties", {}),
                "enqueued_time": record.get("enqueued_time"),
            },
            separators=(",", ":"),
        )
    shown = body if isinstance(body, str) else json.dumps(body)
    props = record.get("properties") or {}
    suffix = f"  {json.dumps(props)}" if props else ""
    return f"[{record.get('seq')}] {record.get('module')}/{record.get('output')}: {shown}{suffix}"


@cli.command()
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new messages (Ctrl-C ends).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message and line.")
@click.option("--since", type=click.IntRange(min=0), default=0, help="Only messages after this sequence number.")
@STATE_OPTION
def monitor(follow: bool, as_json: bool, since: int, state_dir: Path) -> None:
    """Show the messages that reached $upstream (the local stand-in for IoT Hub)."""
    client = SimClient.from_state_dir(state_dir)
    seq = since
    try:
        while True:
            records, seq = client.upstream(seq, wait=20.0 if follow else 0.0)
            for record in records:
                click.echo(_monitor_line(record, as_json))
            if not follow:
                return
    except KeyboardInterrupt:
        return
    except SimulatorClientError:
        if follow:  # the simulator went away while we followed it: that ends the stream
            click.echo("simulator stopped", err=True)
            return
        raise


@cli.command()
@click.argument("module")
@click.argument("method")
@click.argument("payload", metavar="JSON", default="null")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.001, max=300),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the module's answer (504 after that).",
)
@STATE_OPTION
def invoke(module: str, method: str, payload: str, timeout: float, state_dir: Path) -> None:
    """Invoke direct method METHOD on MODULE (a module, a leaf device or $edgeAgent).

    Prints {"status": N, "payload": ...}."""
    result = SimClient.from_state_dir(state_dir, timeout=30.0).invoke(
        module, method, _json_argument(payload, "JSON"), timeout
    )
    click.echo(json.dumps({"status": result["status"], "payload": result["payload"]}))


@cli.command()
@click.argument("module")
@click.option("--patch", "patch", default=None, metavar="JSON", help="Merge this into the desired properties first.")
@STATE_OPTION
def twin(module: str, patch: str | None, state_dir: Path) -> None:
    """Print MODULE's twin {"desired": ..., "reported": ...} (after applying --patch)."""
    client = SimClient.from_state_dir(state_dir)
    if patch is None:
        result = client.twin(module)
    else:
        desired = _json_argument(patch, "--patch")
        if not isinstance(desired, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--patch")
        result = client.patch_twin(module, desired)
    click.echo(json.dumps({"desired": result.get("desired", {}), "reported": result.get("reported", {})}, indent=2))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full status as JSON.")
@STATE_OPTION
def status(as_json: bool, state_dir: Path) -> None:
    """Show the running simulator: modules, their runtime state, hub counters."""
    result = SimClient.from_state_dir(state_dir).status()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    from rich.console import Console

    Console().print(_status_table(result))


@cli.command()
@click.argument("module")
@click.option("--tail", type=click.IntRange(min=0), default=0, help="Only the last N lines (0: all).")
@STATE_OPTION
def logs(module: str, tail: int, state_dir: Path) -> None:
    """Print MODULE's log (its stdout and stderr, and the agent's start/exit lines)."""
    click.echo(SimClient.from_state_dir(state_dir).logs(module, tail), nl=False)


@cli.command()
@click.argument("device")
@click.argument("body", metavar="JSON")
@click.option("--property", "properties", multiple=True, metavar="K=V", help="An application property (repeatable).")
@click.option("--message-id", default=None, help="The message's messageId.")
@click.option(
    "--ttl",
    type=click.FloatRange(min=0.001, max=48 * 3600),
    default=None,
    help="Seconds the message waits for an offline device (default 3600, IoT Hub's).",
)
@STATE_OPTION
def c2d(
    device: str, body: str, properties: tuple[str, ...], message_id: str | None, ttl: float | None, state_dir: Path
) -> None:
    """Send a cloud-to-device message to leaf DEVICE (queued durably while it is offline)."""
    SimClient.from_state_dir(state_dir).c2d(
        device, _json_argument(body, "JSON"), _assignments(properties, "--property"), ttl, message_id
    )
    click.echo("queued")


@cli.group()
def device() -> None:
    """Leaf (downstream) devices that connect through the simulator as their gateway."""


@device.command("add")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help='Print {"device_id", "connection_string", "ca_cert"}.')
@STATE_OPTION
def device_add(name: str, as_json: bool, state_dir: Path) -> None:
    """Create leaf device NAME; prints its connection string and the CA certificate to trust."""
    info = SimClient.from_state_dir(state_dir).add_device(name)
    if as_json:
        click.echo(json.dumps({key: info[key] for key in ("device_id", "connection_string", "ca_cert")}))
    else:
        click.echo(f"{info['connection_string']}\nserver_verification_cert: {info['ca_cert']}")


@device.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of the devices.")
@STATE_OPTION
def device_list(as_json: bool, state_dir: Path) -> None:
    """List the leaf devices (and whether each is connected)."""
    devices = SimClient.from_state_dir(state_dir).devices()
    if as_json:
        click.echo(json.dumps(devices))
        return
    for item in devices:
        click.echo(f"{item['device_id']}\t{'connected' if item['connected'] else 'offline'}")


@device.command("remove")
@click.argument("name")
@STATE_OPTION
def device_remove(name: str, state_dir: Path) -> None:
    """Remove leaf device NAME: its connection closes, its twin and queued messages go."""
    SimClient.from_state_dir(state_dir).remove_device(name)
    click.echo("removed")


# ---- issue #18: redeploy in place -------------------------------------------------------------
def _deploy_lines(result: dict[str, Any]) -> list[str]:
    restarted = result.get("restarted") or {}
    lines = [
        f"added: {', '.join(result.get('added') or []) or '-'}",
        f"removed: {', '.join(result.get('removed') or []) or '-'}",
        "restarted: " + (", ".join(f"{name} ({', '.join(reasons)})" for name, reasons in restarted.items()) or "-"),
        f"patched: {', '.join(result.get('patched') or []) or '-'}",
        f"unchanged: {', '.join(result.get('unchanged') or []) or '-'}",
    ]
    if result.get("routes_changed"):
        lines.append("routes: changed")
    if result.get("store_ttl_changed") or result.get("store_limits_changed"):
        lines.append("storeAndForwardConfiguration: changed")
    return lines


@cli.command()
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print what was done as one JSON object.")
@STATE_OPTION
def deploy(manifest: Path, as_json: bool, state_dir: Path) -> None:
    """Apply a changed MANIFEST to the running simulator, as edgeAgent applies a new deployment.

    Added modules start, removed ones stop, changed ones restart, the others keep running; routes and
    desired properties change live. A manifest that does not validate changes nothing."""
    from edgesim.redeploy import check_manifest

    client = SimClient.from_state_dir(state_dir)
    check_manifest(manifest)  # the one-line error here; the simulator checks it again before it changes anything
    result = client.deploy(manifest)
    click.echo(json.dumps(result) if as_json else "\n".join(_deploy_lines(result)))


@cli.command()
@click.argument("module")
@STATE_OPTION
def restart(module: str, state_dir: Path) -> None:
    """Restart MODULE now (edgeAgent's RestartModule); returns once it runs again."""
    state = SimClient.from_state_dir(state_dir).restart(module)
    click.echo(f"restarted {module} (pid {state.get('pid')}, restart count {state.get('restartCount')})")


@cli.command("upstream")
@click.argument("action", type=click.Choice(["offline", "online", "status"]))
@click.option("--json", "as_json", is_flag=True, help="Print the link state as JSON.")
@STATE_OPTION
def upstream_link(action: str, as_json: bool, state_dir: Path) -> None:
    """Take the link to the cloud offline (messages for $upstream wait in the store), bring it online, or show it."""
    state = SimClient.from_state_dir(state_dir).upstream_link(None if action == "status" else action)
    if as_json:
        click.echo(json.dumps(state))
    else:
        click.echo(f"upstream {state['link']}: {state['pending']} pending, {state['expired']} expired")


@cli.command()
@STATE_OPTION
def stop(state_dir: Path) -> None:
    """Stop the simulator (modules first) and wait until it has exited."""
    SimClient.from_state_dir(state_dir).stop()
    click.echo("stopped")
