"""What one device gets from a set of at-scale deployments: the winning base, then its layers.

Selection (``select``) and merging (``compose``) follow IoT Hub's documented rules; each rule and
the doc it comes from is listed in ``manifests/README.md`` ("Layered deployments, whole").
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from edgeship.errors import ManifestError
from edgeship.manifest.deployments import DESIRED, Deployment, desired_path

Path_ = tuple[str, ...]


@dataclass(frozen=True)
class Selection:
    """The deployments whose condition a device meets, and which of them IoT Hub applies."""

    targeted: tuple[Deployment, ...]
    base: Deployment | None
    layers: tuple[Deployment, ...]  # in the order they are applied: ascending priority
    skipped: tuple[tuple[Deployment, str], ...]  # targeted but not applied, with the reason
    tie: str | None = None  # an equal-priority tie between bases settled by input order, not by time


def _is_edge_device(twin: Mapping[str, object]) -> bool:
    capabilities = twin.get("capabilities")
    return not (isinstance(capabilities, Mapping) and capabilities.get("iotEdge") is False)


def select(deployments: Sequence[Deployment], twin: Mapping[str, object]) -> Selection:
    if not _is_edge_device(twin):
        return Selection((), None, (), ())
    targeted = tuple(d for d in deployments if d.condition.matches(twin))
    bases = [d for d in targeted if not d.layered]
    skipped: list[tuple[Deployment, str]] = []
    base: Deployment | None = None
    tie: str | None = None
    if bases:
        ranked = sorted(bases, key=Deployment.rank, reverse=True)
        base = ranked[0]
        for other in ranked[1:]:
            reason = f"base {base.id} has a higher priority ({base.priority})"
            if other.priority == base.priority:
                by_time = base.created is not None and other.created is not None and base.created != other.created
                why = (
                    "its createdTimeUtc is later"
                    if by_time
                    else "it comes later among the inputs (no createdTimeUtc tells which is newer)"
                )
                reason = f"equal priority {base.priority}: base {base.id} wins because {why}"
                if not by_time:
                    tie = tie or reason
            skipped.append((other, reason))
    layers: list[Deployment] = []
    for layer in (d for d in targeted if d.layered):
        if base is None:
            skipped.append((layer, "no base deployment targets this device"))
        elif layer.priority <= base.priority:
            skipped.append(
                (
                    layer,
                    f"priority {layer.priority} is not above base {base.id}'s {base.priority}; "
                    "layered deployments must have a higher priority than the base",
                )
            )
        else:
            layers.append(layer)
    layers.sort(key=Deployment.rank)
    return Selection(targeted, base, tuple(layers), tuple(skipped), tie)


def _leaves(value: object, path: Path_) -> Iterator[Path_]:
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            yield from _leaves(child, (*path, key))
    else:
        yield path


@dataclass
class _Twin:
    desired: dict[str, object] = field(default_factory=dict)
    sources: dict[Path_, str] = field(default_factory=dict)  # leaf path -> deployment id

    def put(self, path: Path_, value: object, source: str) -> None:
        """Set (or, with null, remove) the value at ``path``, replacing whatever was there."""
        if not path:
            if not isinstance(value, dict):  # parse_deployment refused it already
                raise ManifestError(f"{DESIRED} must be an object")
            self.desired = copy.deepcopy(value)
            self.sources = dict.fromkeys(_leaves(self.desired, ()), source)
            return
        length = len(path)
        self.sources = {
            p: s
            for p, s in self.sources.items()
            if p[:length] != path and not (len(p) < length and path[: len(p)] == p)
        }
        node = self.desired
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                if value is None:
                    return
                child = node[part] = {}
            node = child
        if value is None:
            node.pop(path[-1], None)
            return
        node[path[-1]] = copy.deepcopy(value)
        self.sources.update(dict.fromkeys(_leaves(value, path), source))


@dataclass(frozen=True)
class Composition:
    manifest: dict[str, object]
    selection: Selection
    sources: dict[str, dict[Path_, str]]  # twin -> leaf path -> deployment id


def compose(deployments: Sequence[Deployment], twin: Mapping[str, object]) -> Composition:
    """The manifest IoT Hub would give this device; ManifestError when no base deployment targets it."""
    selection = select(deployments, twin)
    if selection.base is None:
        if selection.targeted:
            names = ", ".join(d.label for d in selection.targeted)
            raise ManifestError(
                f"no base deployment targets this device, only layered ones ({names}); a layered "
                "deployment adds to a base and is not applied alone"
            )
        if not _is_edge_device(twin):
            raise ManifestError(
                "the twin says capabilities.iotEdge is false: IoT Edge deployments target only IoT Edge devices"
            )
        raise ManifestError("no deployment's targetCondition matches this device")
    twins: dict[str, _Twin] = {}
    for name, body in selection.base.modules_content.items():
        twins[name] = _Twin()
        twins[name].put((), body[DESIRED], selection.base.id)
    for layer in selection.layers:
        for name, body in layer.modules_content.items():
            target = twins.setdefault(name, _Twin())
            # A whole properties.desired replaces the twin first; its dotted paths then land on top.
            for key in sorted(body, key=lambda k: k != DESIRED):
                path = desired_path(key)
                assert path is not None  # parse_deployment refused every other key
                target.put(path, body[key], layer.id)
    manifest: dict[str, object] = {"modulesContent": {name: {DESIRED: t.desired} for name, t in twins.items()}}
    return Composition(manifest, selection, {name: t.sources for name, t in twins.items()})


def _summary_path(twin: str, path: Path_) -> Path_:
    """Explain system twins per module, route or setting, not per leaf of every createOptions."""
    if twin not in ("$edgeAgent", "$edgeHub"):
        return path
    if path[:1] in (("modules",), ("routes",), ("systemModules",)):
        return path[:2]
    if path[:3] == ("runtime", "settings", "registryCredentials"):
        return path[:4]
    return path[:1]


def explain(composition: Composition, deployments: Sequence[Deployment]) -> list[str]:
    """Lines saying which deployment each module, route and desired property came from."""
    by_id = {d.id: d for d in deployments}
    selection = composition.selection
    assert selection.base is not None
    lines = [f"base: {selection.base.label}"]
    lines += [f"layer: {layer.label}" for layer in selection.layers]
    lines += [f"not applied: {skipped.label}: {reason}" for skipped, reason in selection.skipped]
    for twin, sources in composition.sources.items():
        grouped: dict[Path_, list[str]] = {}
        for path, source in sources.items():
            owners = grouped.setdefault(_summary_path(twin, path), [])
            if source not in owners:
                owners.append(source)
        for path, owners in grouped.items():
            where = ".".join(path) if path else "(empty)"
            lines.append(f"{twin} {where}: " + ", ".join(f"{o} ({by_id[o].source})" for o in owners))
    return lines
