"""`edgeship manifest`: generate deployment manifests from templates and validate them.

Diagnostics go to stderr as ``file:line:col: severity: <json path>: message [check]``; when there
are errors the command ends with ``error: N error(s) ...`` and exit code 1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

import click

from edgeship.errors import ManifestError
from edgeship.manifest import (
    PLATFORMS,
    AtScale,
    Diagnostic,
    GenerateOptions,
    ManifestCheckError,
    ManifestSyntaxError,
    Severity,
    deployment_create_command,
    deployment_document,
    discover_modules,
    generate,
    set_modules_command,
    validate_file,
)
from edgeship.manifest.compose import compose
from edgeship.manifest.compose import explain as explain_composition
from edgeship.manifest.deployments import load_deployments, read_json_text
from edgeship.manifest.plan import load_devices, plan
from edgeship.manifest.targeting import as_twin
from edgeship.manifest.template import default_modules_dir
from edgeship.manifest.validate import validate_text

_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _print_diagnostics(diagnostics: Iterable[Diagnostic], quiet_info: bool = False) -> None:
    for diagnostic in diagnostics:
        if quiet_info and diagnostic.severity is Severity.INFO:
            continue
        click.secho(diagnostic.format(), err=True, fg=_STYLE[diagnostic.severity])


def _syntax_failure(exc: ManifestSyntaxError) -> ManifestError:
    where = exc.position
    click.secho(f"{where.file}:{where.line}:{where.column}: error: {exc.message}", err=True, fg="red")
    return ManifestError(f"{where.file} is not valid")


def _write_json(path: Path, data: object) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot write {path}: {exc.strerror or exc}") from None


@click.group(name="manifest")
def cli() -> None:
    """Generate and validate IoT Edge deployment manifests."""


@cli.command(name="generate")
@click.option(
    "--template",
    "template",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("manifests/deployment.template.json"),
    show_default=True,
    help="iotedgedev deployment.template.json.",
)
@click.option(
    "--env",
    "env_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="dotenv file with template variables (default: .env when it exists).",
)
@click.option("--platform", type=click.Choice(PLATFORMS), default="amd64", show_default=True)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default: deployment.<platform>.json beside the template).",
)
@click.option(
    "--modules-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of module folders with module.json (default: modules/ beside the template or one up).",
)
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.option("--at-scale", is_flag=True, help="Write an IoT Hub deployment document for many devices.")
@click.option("--target-condition", default=None, help="At scale: e.g. \"tags.environment='prod'\".")
@click.option("--priority", type=int, default=10, show_default=True, help="At scale: higher wins.")
@click.option("--layered", is_flag=True, help="At scale: a layered deployment (adds to a base one).")
@click.option("--deployment-id", default=None, help="At scale: default edgeship-<platform>[-layered].")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="At scale: a label (repeatable).")
@click.option("--hub-name", default="<hub-name>", help="IoT Hub name for the printed az command.")
@click.option("--device-id", default="<device-id>", help="Device id for the printed az command.")
def generate_command(
    template: Path,
    env_file: Path | None,
    platform: str,
    out: Path | None,
    modules_dir: Path | None,
    strict: bool,
    at_scale: bool,
    target_condition: str | None,
    priority: int,
    layered: bool,
    deployment_id: str | None,
    labels: tuple[str, ...],
    hub_name: str,
    device_id: str,
) -> None:
    """Expand TEMPLATE for PLATFORM, validate it and write the manifest (nothing is written on errors)."""
    if env_file is None and Path(".env").is_file():
        env_file = Path(".env")
    if (layered or target_condition is not None) and not at_scale:
        raise click.UsageError("--target-condition and --layered need --at-scale")
    scale: AtScale | None = None
    if at_scale:
        label_map: dict[str, str] = {}
        for pair in labels:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise click.UsageError(f"--label takes KEY=VALUE, got {pair!r}")
            label_map[key] = value
        scale = AtScale(
            target_condition or "",
            priority,
            deployment_id or f"edgeship-{platform}{'-layered' if layered else ''}",
            layered,
            label_map,
        )
    try:
        generated = generate(GenerateOptions(template, platform, env_file, modules_dir))
    except ManifestSyntaxError as exc:
        raise _syntax_failure(exc) from None
    except ManifestCheckError as exc:
        _print_diagnostics(exc.diagnostics)
        raise ManifestError(str(exc)) from None
    _print_diagnostics(generated.report.diagnostics, quiet_info=True)
    if strict and generated.report.warnings:
        raise ManifestError(f"{len(generated.report.warnings)} warning(s) in {template} (--strict)")
    if scale is not None:
        target = out or template.parent / f"deployment.{platform}.atscale.json"
        _write_json(target, deployment_document(generated.manifest, scale))
        click.echo(f"wrote {target}")
        click.echo(deployment_create_command(target, scale, hub_name))
    else:
        target = out or template.parent / f"deployment.{platform}.json"
        _write_json(target, generated.manifest)
        click.echo(f"wrote {target}")
        click.echo(set_modules_command(target, device_id, hub_name))


@cli.command(name="validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--modules-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Module folders whose module.json declare inputs and outputs (default: ./modules, else "
    "modules/ beside FILE or one up).",
)
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def validate_command(file: Path, modules_dir: Path | None, strict: bool, as_json: bool) -> None:
    """Check FILE (a manifest or an at-scale deployment document); every problem at once."""
    if modules_dir is None:
        modules_dir = Path("modules") if Path("modules").is_dir() else default_modules_dir(file)
    try:
        report = validate_file(file, discover_modules(modules_dir))
    except ManifestSyntaxError as exc:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "file": str(file),
                        "ok": False,
                        "diagnostics": [
                            {
                                "severity": "error",
                                "file": exc.position.file,
                                "line": exc.position.line,
                                "column": exc.position.column,
                                "path": "",
                                "message": exc.message,
                                "code": "json-syntax",
                            }
                        ],
                    },
                    indent=2,
                )
            )
        raise _syntax_failure(exc) from None
    failed = report.failed(strict)
    if as_json:
        click.echo(
            json.dumps(
                {"file": str(file), "ok": not failed, "diagnostics": [d.to_json() for d in report.diagnostics]},
                indent=2,
            )
        )
    else:
        _print_diagnostics(report.diagnostics)
    if failed:
        counted = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
        raise ManifestError(f"{file}: {counted}{' (--strict)' if strict and not report.errors else ''}")
    if not as_json:
        click.echo(f"{file}: valid ({len(report.warnings)} warning(s))")


def _twin_option(text: str, device_id: str | None) -> dict[str, object]:
    if text.startswith("@"):
        text = read_json_text(Path(text[1:]))
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"--tags: not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(document, dict):
        raise ManifestError('--tags takes a JSON object: the tags, or a twin {"tags": ..., "properties": ...}')
    return as_twin(document, device_id)


@cli.command(name="compose")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--tags",
    "tags",
    default="{}",
    show_default=True,
    metavar="JSON",
    help='The device\'s tags, or its twin {"deviceId", "tags", "properties": {"reported": ...}}; '
    "@FILE reads it from a file.",
)
@click.option("--device-id", default=None, help="The device id target conditions see (deviceId).")
@click.option(
    "--explain", is_flag=True, help="Say on stderr which deployment supplied each module, route and desired property."
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the manifest here instead of stdout.",
)
@click.option(
    "--modules-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Module folders for validating routes (default: ./modules).",
)
def compose_command(
    files: tuple[Path, ...], tags: str, device_id: str | None, explain: bool, out: Path | None, modules_dir: Path | None
) -> None:
    """The deployment manifest a device gets from at-scale deployments FILES (base and layered), validated."""
    twin = _twin_option(tags, device_id)
    deployments = load_deployments(files)
    composition = compose(deployments, twin)
    if explain:
        for line in explain_composition(composition, deployments):
            click.echo(line, err=True)
    elif composition.selection.tie:
        # Which of two equal-priority bases wins rests on a guess without createdTimeUtc: say so.
        click.secho(f"warning: {composition.selection.tie}", err=True, fg="yellow")
    text = json.dumps(composition.manifest, indent=2, ensure_ascii=False) + "\n"
    source = str(out) if out else "<composed>"
    _document, report = validate_text(text, source, discover_modules(modules_dir or Path("modules")))
    _print_diagnostics(report.diagnostics, quiet_info=True)
    if report.errors:
        raise ManifestError(f"the composed deployment is not valid: {len(report.errors)} error(s)")
    if out is None:
        click.echo(text, nl=False)
    else:
        _write_json(out, composition.manifest)
        click.echo(f"wrote {out}")


@cli.command(name="plan")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--devices",
    "devices_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='JSON list of device twins [{"deviceId", "tags", "properties"?}] or {deviceId: tags}.',
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--counts-only", is_flag=True, help="Only the counts per deployment, not every device.")
def plan_command(files: tuple[Path, ...], devices_file: Path, as_json: bool, counts_only: bool) -> None:
    """Which of the deployments FILES each device gets, and the targeted / applied counts per deployment."""
    started = time.perf_counter()
    deployments = load_deployments(files)
    twins = load_devices(devices_file)
    fleet = plan(deployments, twins)
    elapsed = time.perf_counter() - started
    if as_json:
        result: dict[str, object] = {
            "deployments": {
                d.id: {
                    "layered": d.layered,
                    "priority": d.priority,
                    "targeted": fleet.counts[d.id].targeted,
                    "applied": fleet.counts[d.id].applied,
                }
                for d in deployments
            }
        }
        if not counts_only:
            result["devices"] = {
                p.device_id: {"targeted": list(p.targeted), "applied": list(p.applied)} for p in fleet.devices
            }
        click.echo(json.dumps(result, indent=2))
    else:
        if not counts_only:
            for device in fleet.devices:
                applied = " + ".join(device.applied) or "-"
                extra = [d for d in device.targeted if d not in device.applied]
                click.echo(
                    f"{device.device_id}: {applied}"
                    + (f" (targeted, not applied: {', '.join(extra)})" if extra else "")
                )
        width = max(len("deployment"), *(len(d.id) for d in deployments))
        click.echo(f"{'deployment':<{width}}  kind     priority  targeted   applied")
        for d in deployments:
            counts = fleet.counts[d.id]
            click.echo(
                f"{d.id:<{width}}  {'layered' if d.layered else 'base':<7}  {d.priority:>8}  "
                f"{counts.targeted:>8}  {counts.applied:>8}"
            )
    click.echo(f"planned {len(twins)} device(s) against {len(deployments)} deployment(s) in {elapsed:.3f} s", err=True)
