"""``sim deploy``: a running simulator takes a changed manifest, the way edgeAgent reconciles a new deployment.

The order, and why:

1. Read and check the whole new manifest first (the reader ``sim start`` uses, and the routes
   compiled): a manifest that does not validate changes nothing.
2. Stop the removed modules and the changed ones (``edgesim.agent.reconcile`` says which), while
   the old deployment still describes them, so their last state is reported with their old spec.
3. Switch the hub (identities, routes, store TTL) and the workload API to the new modules, and make
   each twin's desired properties the manifest's: a module that keeps running gets them as one
   desired-properties patch with a new ``$version``, and is not restarted.
4. Start the changed and added modules, by startupOrder. Unchanged modules were never touched.
5. Report the new deployment in ``$edgeAgent`` / ``$edgeHub`` (``lastDesiredVersion``,
   ``lastDesiredStatus`` 200) and point ``sim.json``'s ``manifest`` at the new file.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgesim import sas
from edgesim.agent import ModuleRun, ModuleState
from edgesim.agent.reconcile import Plan, plan
from edgesim.deployment import Deployment, ModuleSpec, ModuleStatus, load_deployment
from edgesim.jsontypes import JSONLike
from edgesim.routing import Router
from edgesim.workload import WorkloadIdentity

if TYPE_CHECKING:
    from edgesim.runtime import Simulator

_locks: weakref.WeakKeyDictionary[Simulator, asyncio.Lock] = weakref.WeakKeyDictionary()  # one at a time


def check_manifest(manifest: Path) -> Deployment:
    """What ``sim start`` checks (the reader, the routes compiled): a one-line ``SimulatorError`` if bad."""
    deployment = load_deployment(manifest)
    Router.from_manifest(deployment.routes)  # a RouteSyntaxError now, not halfway through
    return deployment


def module_run(sim: Simulator, spec: ModuleSpec) -> ModuleRun:
    return ModuleRun(
        name=spec.name,
        env=sim._module_env(spec.name, sim._workload.uri if sim._workload else ""),
        status=spec.status,
        restart_policy=spec.restart_policy,
        startup_order=spec.startup_order,
        image=spec.image,
        create_options=spec.create_options,
    )


async def redeploy(sim: Simulator, manifest: Path) -> Plan:
    """Apply ``manifest`` to the running ``sim``; returns what was done (``patched``: the kept modules
    that got a desired-properties patch)."""
    new = check_manifest(manifest)
    async with _locks.setdefault(sim, asyncio.Lock()):
        return await _apply(sim, manifest.resolve(), new)


async def _apply(sim: Simulator, manifest: Path, new: Deployment) -> Plan:
    from edgesim.hub.redeploy import apply_desired, next_desired_version, reconfigure

    hub, agent = sim.hub, sim.agent
    changes = plan(sim.deployment, new)
    leaving = (*changes.removed, *changes.restarted)
    last: dict[str, ModuleState] = dict(
        zip(leaving, await asyncio.gather(*(agent.retire(n) for n in leaving)), strict=True)
    )
    if sim._docker is not None:  # a changed module's container is made again from its new spec
        await asyncio.gather(*(sim._docker.discard(name) for name in leaving))
        sim._docker.reconfigure(new.registry_credentials, {spec.name: spec.image_pull_policy for spec in new.modules})
    for name in changes.removed:
        await hub.patch_reported("$edgeAgent", {"modules": {name: None}})  # null deletes it, as edgeAgent drops it
        sim._keys.pop(name, None)
        sim._generation_ids.pop(name, None)
    for name in changes.added:
        sim._keys[name] = sas.generate_key()  # in memory only, as at start
        sim._generation_ids[name] = secrets.token_hex(8)

    sim.deployment = new
    if sim._workload is not None:
        sim._workload.set_identities(
            {name: WorkloadIdentity(sim._keys[name], sim._generation_ids[name]) for name in new.module_names}
        )
    reconfigure(hub, dict(sim._keys), new.routes, new.store_ttl_secs, new.desired, new.store_max_bytes)
    restarting = set(changes.added) | set(changes.restarted)
    # Every twin is set (a stopped module finds it at its next start); only kept ones count as patched.
    patched = tuple(name for name in await apply_desired(hub, new.desired) if name not in restarting)
    if sim.agent_metrics is not None:
        sim.agent_metrics.redeployed(
            {spec.name: spec.version for spec in new.modules},
            {spec.name for spec in new.modules if spec.status is ModuleStatus.RUNNING},
        )
    await agent.launch([module_run(sim, new.module(name)) for name in sorted(restarting)], keep=last)

    sim.config = replace(sim.config, manifest=manifest)
    sim._write_state_file()
    agent_version = next_desired_version(hub, "$edgeAgent")
    hub_version = next_desired_version(hub, "$edgeHub")
    ok: dict[str, JSONLike] = {"code": 200, "description": ""}
    await hub.patch_reported(
        "$edgeAgent",
        {"schemaVersion": new.agent_schema_version, "lastDesiredVersion": agent_version, "lastDesiredStatus": ok},
    )
    await hub.patch_reported(
        "$edgeHub",
        {"schemaVersion": new.hub_schema_version, "lastDesiredVersion": hub_version, "lastDesiredStatus": ok},
    )
    return replace(changes, patched=patched)


async def restart(sim: Simulator, name: str, timeout: float = 60.0) -> ModuleState:
    """``sim restart MODULE``: edgeAgent's RestartModule; returns once the module runs again."""
    sim.require_module(name)
    agent = sim.agent
    before = agent.states()[name].starts
    await agent.restart(name)  # ModuleLaunchError when it is not running
    await agent.wait_for(lambda s: s[name].starts > before or s[name].runtime_status not in ("running",), timeout)
    return agent.states()[name]
