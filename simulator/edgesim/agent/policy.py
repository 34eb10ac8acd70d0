"""edgeAgent's restart policy, as pure functions.

Read from Azure/iotedge ``RestartPolicyManager`` / ``HealthRestartPlanner`` (edgeAgent):

* a module that is not running is restarted when its policy is ``always``, or when it failed
  (non-zero exit) and its policy is ``on-failure`` or ``on-unhealthy``; ``never`` never restarts;
* before restart number ``n`` (0-based count of restarts so far) edgeAgent waits a cool-off of
  ``min(unit * 2**n, 300)`` seconds, unit ``CoolOffTimeUnitInSeconds`` (default 10), while the
  module shows ``backoff``;
* once the count reaches ``MaxRestartCount`` (default 5) the module is ``failed`` and stays so;
* the count is cleared when the module has stayed up for ``IntensiveCareTimeInMinutes`` (10).

edgeAgent has no health probes, so ``on-unhealthy`` acts as ``on-failure``, as it does here.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesim.defaults import DEFAULT_BACKOFF_UNIT_SECS
from edgesim.deployment import RestartPolicy

MAX_COOL_OFF_SECS = 300.0


@dataclass(frozen=True)
class BackoffConfig:
    cool_off_unit_secs: float = DEFAULT_BACKOFF_UNIT_SECS
    max_cool_off_secs: float = MAX_COOL_OFF_SECS
    max_restarts: int = 5
    intensive_care_secs: float = 600.0


def should_restart(policy: RestartPolicy, exit_code: int) -> bool:
    """Whether a module that exited with ``exit_code`` is restarted under ``policy``."""
    if policy is RestartPolicy.ALWAYS:
        return True
    if policy in (RestartPolicy.ON_FAILURE, RestartPolicy.ON_UNHEALTHY):
        return exit_code != 0
    return False


def cool_off_secs(config: BackoffConfig, restart_count: int) -> float:
    """How long edgeAgent waits before the restart that follows ``restart_count`` restarts."""
    return float(min(config.cool_off_unit_secs * 2.0**restart_count, config.max_cool_off_secs))
