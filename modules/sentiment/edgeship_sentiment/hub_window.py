"""The hub's in-flight window, which bounds how many results the IoT Hub face sends at once."""

from __future__ import annotations

# Input messages the hub lets one module hold unacknowledged (edgesim's hub: IN_FLIGHT_WINDOW,
# checked equal by a test). More senders than this could never all be fed, so --send-window
# stops here.
MAX_SEND_WINDOW = 64
