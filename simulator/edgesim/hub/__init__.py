"""edgeHub, offline: the MQTT gateway, routes, twins, methods and store-and-forward."""

from edgesim.hub.server import Hub, HubConfig, HubError, UpstreamRecord

__all__ = ["Hub", "HubConfig", "HubError", "UpstreamRecord"]
