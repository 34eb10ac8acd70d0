"""edgeHub, offline: the MQTT gateway, routes, twins, methods and store-and-forward."""

from edgesim.errors import HubError
from edgesim.hub.config import HubConfig
from edgesim.hub.server import Hub
from edgesim.hub.upstream import UpstreamRecord

__all__ = ["Hub", "HubConfig", "HubError", "UpstreamRecord"]
