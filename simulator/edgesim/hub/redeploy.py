"""A running hub takes a new deployment: module identities, routes, store TTL and desired properties.

Nothing here stops or restarts a connection of a module that stays: the router is swapped between
two messages (``Hub._route`` reads it once per message), so a message is routed by the old routes
or the new ones, never lost between them; messages already stored for a module stay in the store
and its pump keeps delivering them. A removed module's connection is closed and its identity no
longer authenticates, but its twin and queued messages stay on disk (they expire with their TTL),
so deploying it again finds them, as an edgeHub endpoint's queue outlives a route change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from edgesim.agent.reconcile import desired_patch
from edgesim.hub.server import Hub
from edgesim.hub.twins import without_metadata
from edgesim.jsontypes import JSONObject, JSONValue
from edgesim.routing import Router


def reconfigure(
    hub: Hub,
    identities: Mapping[str, str],
    routes: Mapping[str, str | Mapping[str, JSONValue]],
    store_ttl_secs: int,
    desired: Mapping[str, JSONObject],
    store_max_bytes: int | None = None,
) -> None:
    """Switch the hub to the new modules (name -> key), routes, TTL and store limit. Raises
    ``RouteSyntaxError`` before anything changes when a route does not compile."""
    router = Router.from_manifest(routes)
    removed = set(hub.config.identities) - set(identities)
    hub.config = replace(
        hub.config,
        identities=dict(identities),
        routes=dict(routes),
        store_ttl_secs=store_ttl_secs,
        initial_desired=dict(desired),
        store_max_bytes=store_max_bytes,
    )
    hub.router = router
    hub.forwarding.limits.max_size_bytes = store_max_bytes  # checked per message: the next one sees it
    for name in removed:
        hub.forget_module(name)  # the stored twin stays: see the module docstring


async def apply_desired(hub: Hub, desired: Mapping[str, JSONObject]) -> list[str]:
    """Make each module twin's desired properties the deployment's; a connected module gets one patch
    with the new ``$version`` (as ``sim twin --patch`` sends it). Returns the modules whose twin changed."""
    changed = []
    for module, wanted in sorted(desired.items()):
        patch = desired_patch(without_metadata(hub.get_twin(module)["desired"]), wanted)
        if patch:
            await hub.patch_desired(module, patch)
            changed.append(module)
    return changed


def next_desired_version(hub: Hub, identity: str) -> int:
    """Count a new deployment in ``$edgeAgent`` / ``$edgeHub``'s desired ``$version`` (the simulator
    keeps their desired properties empty: the manifest holds them, registry passwords included)."""
    return hub.twins.next_desired_version(identity)
