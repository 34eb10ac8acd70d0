"""Redeploy in place (issue #18) with real azure-iot-device modules over TLS: ``sim deploy`` adds, removes,
restarts only what changed, patches desired properties live, and loses no message of a stream through an
unchanged route; a bad manifest changes nothing; ``sim restart``."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from edgesim.agent import BackoffConfig
from edgesim.agent.reconcile import Plan
from edgesim.deployment import DeploymentError
from edgesim.message import Message
from edgesim.testing import SimulatorHarness, run_simulator

pytestmark = pytest.mark.integration

TEST_MODULES = Path(__file__).parent / "modules"
EDGESHIP = [sys.executable, "-m", "edgeship.cli.main"]
BURST, STREAM_MAX, TAIL = 200, 1000, 50  # stored when the redeploy starts; the stream at most; after it
JSON = {"contentType": "application/json", "contentEncoding": "utf-8"}


def module(code: str, order: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "version": "1.0",
        "type": "docker",
        "status": "running",
        "restartPolicy": "always",
        "startupOrder": order,
        "env": {key: {"value": value} for key, value in (env or {}).items()},
        "settings": {"image": f"localhost:5000/{code}:0.1.0-amd64", "createOptions": "{}"},
    }


def manifest(modules: dict[str, Any], routes: dict[str, str], desired: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {
        "$edgeAgent": {
            "properties.desired": {
                "schemaVersion": "1.1",
                "runtime": {"type": "docker", "settings": {"minDockerVersion": "v1.25"}},
                "systemModules": {
                    "edgeAgent": {"type": "docker", "settings": {"image": "mcr.microsoft.com/azureiotedge-agent:1.6"}},
                    "edgeHub": {
                        "type": "docker",
                        "status": "running",
                        "restartPolicy": "always",
                        "settings": {"image": "mcr.microsoft.com/azureiotedge-hub:1.6"},
                    },
                },
                "modules": modules,
            }
        },
        "$edgeHub": {
            "properties.desired": {
                "schemaVersion": "1.1",
                "routes": routes,
                "storeAndForwardConfiguration": {"timeToLiveSecs": 7200},
            }
        },
    }
    for name, properties in desired.items():
        content[name] = {"properties.desired": properties}
    return {"modulesContent": content}


STREAM_ROUTES = {
    "alphaToBeta": 'FROM /messages/modules/alpha/outputs/out INTO BrokeredEndpoint("/modules/beta/inputs/fromA")',
    "betaToUpstream": "FROM /messages/modules/beta/outputs/up INTO $upstream",
}
BEFORE = manifest(
    {
        "alpha": module("alpha", 1),
        "beta": module("beta", 0),
        "gamma": module("beta", 2, {"FLAVOUR": "one"}),
        "old": module("beta", 2),
    },
    STREAM_ROUTES,
    {"alpha": {"greeting": "hello", "level": 1}},
)


def after() -> dict[str, Any]:
    """Adds newbie, removes old, changes gamma's env and alpha's desired properties; the routes of the stream stay."""
    document = copy.deepcopy(BEFORE)
    modules = document["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    del modules["old"]
    modules["newbie"] = module("beta", 3)
    modules["gamma"]["env"]["FLAVOUR"]["value"] = "two"
    document["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]["newbieUp"] = (
        "FROM /messages/modules/newbie/outputs/up INTO $upstream"
    )
    document["modulesContent"]["alpha"]["properties.desired"] = {"greeting": "hello", "level": 2}
    return document


def modules_dir(tmp_path: Path) -> Path:
    """One folder per module name; gamma, old and newbie run beta's program (it forwards fromA to up)."""
    folder = tmp_path / "modules"
    folder.mkdir()
    for name, code in (("alpha", "alpha"), ("beta", "beta"), ("gamma", "beta"), ("old", "beta"), ("newbie", "beta")):
        (folder / name).symlink_to(TEST_MODULES / code, target_is_directory=True)
    return folder


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def pids(sim: SimulatorHarness) -> dict[str, int | None]:
    status: Any = sim.status()
    return {name: module["pid"] for name, module in status["modules"].items()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def start(tmp_path: Path, host: str) -> Any:
    return run_simulator(
        write(tmp_path / "before.json", BEFORE),
        state_dir=tmp_path / "sim",
        host=host,
        modules_dir=modules_dir(tmp_path),
        backoff=BackoffConfig(cool_off_unit_secs=0.1),
        stop_grace_secs=5,
    )


def test_redeploy_restarts_only_the_changed_module_and_loses_no_message(tmp_path: Path) -> None:
    with start(tmp_path, "127.0.18.1") as sim:
        sim.wait_connected(timeout=60)
        before = pids(sim)
        old_pid = before["old"]
        assert old_pid is not None
        agent_before = sim.twin("$edgeAgent")
        alpha_desired_version = sim.twin("alpha")["desired"]["$version"]

        # A stream through alpha -> beta -> $upstream (routes both deployments share): messages sent before,
        # during and after the redeploy, and a burst queued in the hub's store in the same loop turn the
        # redeploy starts in, so it is stored (not yet delivered) when the redeploy begins.
        flowing, deployed = threading.Event(), threading.Event()
        sent: list[int] = []

        def stream() -> None:
            while len(sent) < STREAM_MAX and not deployed.wait(0.005):  # the wait paces the stream
                sim.send("alpha", "in", {"idx": len(sent)})
                sent.append(len(sent))
                if len(sent) == 10:
                    flowing.set()
            for _ in range(TAIL):
                sim.send("alpha", "in", {"idx": len(sent)})
                sent.append(len(sent))

        async def burst_then_deploy() -> tuple[int, Plan, float]:
            simulator = sim.simulator
            for number in range(BURST):  # no await yields here: alpha's pump cannot take any yet
                await simulator.send("alpha", "in", Message(json.dumps({"burst": number}).encode(), {}, JSON))
            stored = simulator.hub.stats()["stored"]
            began = time.monotonic()
            plan = await simulator.deploy(write(tmp_path / "after.json", after()))
            return stored, plan, time.monotonic() - began

        sender = threading.Thread(target=stream, name="stream")
        sender.start()
        try:
            assert flowing.wait(60)
            stored, result, took = sim.call(burst_then_deploy(), timeout=120)
        finally:
            deployed.set()
            sender.join(60)
        assert not sender.is_alive()
        assert stored >= BURST
        print(f"redeploy took {took:.2f} s; {len(sent)} stream messages, {stored} stored when it began")

        assert result.added == ("newbie",)
        assert result.removed == ("old",)
        assert result.to_json()["restarted"] == {"gamma": ["env"]}
        assert result.unchanged == ("alpha", "beta")
        assert result.patched == ("alpha",)
        assert result.routes_changed

        now = pids(sim)
        assert set(now) == {"alpha", "beta", "gamma", "newbie"}
        assert (now["alpha"], now["beta"]) == (before["alpha"], before["beta"])  # untouched
        assert now["gamma"] not in (None, before["gamma"])
        assert not alive(old_pid)
        gamma_pid = now["gamma"]
        assert gamma_pid is not None
        assert environ(gamma_pid)["FLAVOUR"] == "two"
        assert sim.module_state("gamma").restart_count == 0  # a recreated module starts counting again
        assert sim.module_state("alpha").starts == 1

        # Nothing of the stream was lost (nor duplicated: neither alpha nor beta reconnected).
        records = sim.wait_upstream(
            count=len(sent) + BURST,
            timeout=120,
            where=lambda r: r.module == "beta" and "got" in json.loads(r.body)["inner"],
        )
        got = [json.loads(r.body)["inner"]["got"] for r in records]
        assert sorted(item["idx"] for item in got if "idx" in item) == sent
        assert sorted(item["burst"] for item in got if "burst" in item) == list(range(BURST))
        assert sim.simulator.hub.stats()["stored"] == 0

        # alpha got the desired change as one patch with the next $version, without a restart.
        [patch_record] = sim.wait_upstream(
            count=1, timeout=30, where=lambda r: "desired_patch" in json.loads(r.body).get("inner", {})
        )
        assert json.loads(patch_record.body)["inner"]["desired_patch"] == {
            "level": 2,
            "$version": alpha_desired_version + 1,
        }
        assert sim.twin("alpha")["desired"]["level"] == 2

        # The added module runs (a real SDK client behind the new route); the removed one is gone.
        sim.wait_connected("newbie", timeout=60)
        sim.send("newbie", "fromA", {"hello": "newbie"})
        [newbie] = sim.wait_upstream(count=1, timeout=30, where=lambda r: r.module == "newbie")
        assert json.loads(newbie.body)["inner"] == {"hello": "newbie"}
        assert "old" not in sim.simulator.hub.connected_modules()
        assert "old" not in sim.simulator.hub.config.identities

        agent_twin = sim.twin("$edgeAgent")
        reported = agent_twin["reported"]
        assert agent_twin["desired"]["$version"] == agent_before["desired"]["$version"] + 1
        assert reported["lastDesiredVersion"] == agent_before["reported"]["lastDesiredVersion"] + 1
        assert reported["lastDesiredStatus"] == {"code": 200, "description": ""}
        assert set(reported["modules"]) == {"alpha", "beta", "gamma", "newbie"}
        assert reported["modules"]["newbie"]["runtimeStatus"] == "running"
        state_file = json.loads((tmp_path / "sim" / "sim.json").read_text())
        assert state_file["manifest"] == str((tmp_path / "after.json").resolve())


def edgeship(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGESHIP, "sim", *args, "--state", str(state)], capture_output=True, text=True, timeout=180, check=False
    )


def test_a_bad_manifest_changes_nothing_and_the_cli_deploys_and_restarts(tmp_path: Path) -> None:
    with start(tmp_path, "127.0.18.2") as sim:
        sim.wait_connected(timeout=60)
        before = pids(sim)
        agent_before = sim.twin("$edgeAgent")
        state = tmp_path / "sim"

        bad_status = after()
        bad_status["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["gamma"]["status"] = "paused"
        bad_route = after()
        bad_route["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]["newbieUp"] = "FROM nowhere INTO"
        with pytest.raises(DeploymentError, match=r"modules\.gamma\.status: expected one of running, stopped"):
            sim.deploy(write(tmp_path / "bad-status.json", bad_status))
        cli = edgeship(state, "deploy", str(write(tmp_path / "bad-route.json", bad_route)))
        assert cli.returncode == 1
        assert cli.stderr.startswith("error: route 'newbieUp': ")
        assert len(cli.stderr.strip().splitlines()) == 1
        missing = edgeship(state, "deploy", str(tmp_path / "nope.json"))
        assert (missing.returncode, missing.stderr.startswith("error: cannot read")) == (1, True)
        refused = requests.post(
            f"{sim.control_url}/v1/deploy", json={"manifest": str(tmp_path / "bad-status.json")}, timeout=30
        )
        assert refused.status_code == 400
        assert "modules.gamma.status: expected one of running, stopped" in refused.json()["message"]
        assert requests.post(f"{sim.control_url}/v1/deploy", json={"manifest": 5}, timeout=30).status_code == 400
        # The running deployment is as it was: same processes, same modules, no new desired version.
        assert pids(sim) == before
        assert sim.twin("$edgeAgent") == agent_before
        assert sim.simulator.deployment.module_names == ("alpha", "beta", "gamma", "old")

        good = edgeship(state, "deploy", str(write(tmp_path / "after.json", after())), "--json")
        assert good.returncode == 0, good.stderr
        assert json.loads(good.stdout) == {
            "added": ["newbie"],
            "removed": ["old"],
            "restarted": {"gamma": ["env"]},
            "unchanged": ["alpha", "beta"],
            "patched": ["alpha"],
            "routes_changed": True,
            "store_ttl_changed": False,
            "store_limits_changed": False,
        }
        again = edgeship(state, "deploy", str(tmp_path / "after.json"))
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines() == [
            "added: -",
            "removed: -",
            "restarted: -",
            "patched: -",
            "unchanged: alpha, beta, gamma, newbie",
        ]

        beta_pid = pids(sim)["beta"]
        restarted = edgeship(state, "restart", "beta")
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout.startswith("restarted beta (pid ")
        assert pids(sim)["beta"] not in (None, beta_pid)
        assert sim.module_state("beta").restart_count == 1
        unknown = edgeship(state, "restart", "ghost")
        assert unknown.returncode == 1
        assert "no module 'ghost'" in unknown.stderr

        alpha_pid = pids(sim)["alpha"]
        state_after = sim.restart("alpha")
        assert state_after.pid not in (None, alpha_pid)
        assert state_after.runtime_status == "running"


def test_deploy_takes_what_manifest_compose_writes(tmp_path: Path) -> None:
    from edgeship.manifest import AtScale, deployment_document

    # The at-scale deployment stops gamma and shortens the store TTL; compose resolves it for one device.
    document = after()
    document["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["gamma"]["status"] = "stopped"
    document["modulesContent"]["$edgeHub"]["properties.desired"]["storeAndForwardConfiguration"] = {
        "timeToLiveSecs": 60
    }
    at_scale = write(tmp_path / "at-scale.json", deployment_document(document, AtScale("tags.site = 'lab'", 10, "lab")))
    composed = tmp_path / "composed.json"
    compose = subprocess.run(
        [*EDGESHIP, "manifest", "compose", str(at_scale), "--tags", '{"site": "lab"}', "--out", str(composed)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compose.returncode == 0, compose.stderr
    with start(tmp_path, "127.0.18.3") as sim:
        sim.wait_connected(timeout=60)
        gamma_pid = pids(sim)["gamma"]
        assert gamma_pid is not None
        cli = edgeship(tmp_path / "sim", "deploy", str(composed), "--json")
        assert cli.returncode == 0, cli.stderr
        result = json.loads(cli.stdout)
        assert (result["restarted"], result["store_ttl_changed"]) == ({"gamma": ["env", "status"]}, True)
        gamma = sim.module_state("gamma")
        assert (gamma.runtime_status, gamma.pid) == ("stopped", None)
        assert not alive(gamma_pid)
        assert sim.simulator.hub.config.store_ttl_secs == 60
        assert sim.twin("$edgeAgent")["reported"]["modules"]["gamma"]["status"] == "stopped"
        not_running = requests.post(f"{sim.control_url}/v1/modules/gamma/restart", timeout=30)
        assert not_running.status_code == 409
        assert "is not running" in not_running.json()["message"]


def test_a_redeployed_store_limit_applies_live_and_can_be_lifted(tmp_path: Path) -> None:
    from edgesim.hub.limits import StoreFullError

    limited = copy.deepcopy(BEFORE)
    limited["modulesContent"]["$edgeHub"]["properties.desired"]["storeAndForwardConfiguration"]["storeLimits"] = {
        "maxSizeBytes": 0
    }  # at or over 0 bytes: every new message is refused
    with start(tmp_path, "127.0.18.4") as sim:
        sim.wait_connected(timeout=60)
        before = pids(sim)
        result = sim.deploy(write(tmp_path / "limited.json", limited))
        assert result.store_limits_changed
        assert result.changed == ()
        assert sim.status()["store"]["max_size_bytes"] == 0
        with pytest.raises(StoreFullError, match="maxSizeBytes"):
            sim.send("beta", "fromA", {"n": 1})
        assert sim.status()["store"]["refused"]["store_limit"] >= 1
        lifted = sim.deploy(write(tmp_path / "lifted.json", BEFORE))
        assert lifted.store_limits_changed
        assert sim.status()["store"]["max_size_bytes"] is None
        sim.send("beta", "fromA", {"n": 2})  # taken again: no exception
        assert pids(sim) == before  # a store limit restarts nothing
