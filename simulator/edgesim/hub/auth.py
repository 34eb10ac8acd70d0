"""Authentication: which identity a CONNECT (or an HTTPS caller) proves with its SAS token.

Pure functions of the hub's identities: modules of the deployment (``{device}/{module}``) and
registered leaf devices (``{device}``), each with its own key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from edgesim import sas
from edgesim.errors import HubError
from edgesim.hub import codec
from edgesim.hub.topics import Identity, parse_username

log = logging.getLogger("edgesim.hub")


def authenticate(
    connect: codec.Connect, hub_hostname: str, device_id: str, modules: Mapping[str, str], devices: Mapping[str, str]
) -> tuple[Identity | None, int]:
    """The identity a CONNECT proves and CONNACK's return code (``None`` and the refusal when none)."""
    parsed = parse_username(connect.username or "")
    if parsed is None or connect.password is None:
        return None, codec.REFUSED_BAD_CREDENTIALS
    _, device, module = parsed
    if module is None:
        # A leaf device: client id = device id, a registered device other than the edge device itself.
        if connect.client_id != device or device == device_id:
            return None, codec.REFUSED_IDENTIFIER
        key = devices.get(device)
        resource = f"{hub_hostname}/devices/{device}"
    else:
        if device != device_id or connect.client_id != f"{device}/{module}":
            return None, codec.REFUSED_IDENTIFIER
        key = modules.get(module)
        resource = sas.module_resource_uri(hub_hostname, device, module)
    if key is None:
        return None, codec.REFUSED_NOT_AUTHORIZED
    try:
        sas.verify_token(connect.password.decode("utf-8", errors="replace"), resource, key)
    except sas.SasTokenError as exc:
        log.warning("refused %s: %s", connect.client_id, exc)
        return None, codec.REFUSED_NOT_AUTHORIZED
    return Identity(device, module), codec.ACCEPTED


def verify_module_token(client: str, token: str, hub_hostname: str, device_id: str, modules: Mapping[str, str]) -> str:
    """For HTTPS callers: ``client`` is ``x-ms-edge-moduleId`` (``{device}/{module}``), ``token``
    the ``Authorization`` SAS token; returns the module or raises ``HubError`` saying why not."""
    device, _, module = client.partition("/")
    if not device or not module or "/" in module:
        raise HubError("x-ms-edge-moduleId must be {deviceId}/{moduleId}")
    if device != device_id:
        raise HubError("Only modules on the same device can invoke DirectMethods")
    key = modules.get(module)
    if key is None:
        raise HubError(f"no module named {module!r} in this deployment")
    try:
        sas.verify_token(token, sas.module_resource_uri(hub_hostname, device, module), key)
    except sas.SasTokenError as exc:
        raise HubError(f"the SAS token is not valid for {client}: {exc}") from None
    return module
