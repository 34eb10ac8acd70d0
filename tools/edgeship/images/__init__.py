"""Module images for devices: a stand-in base image, a wheelhouse per platform, build and push.

Nothing here needs network inside a build: the base comes from Debian packages when the official
``python:3.11-slim-bookworm`` cannot be pulled, and the module's pinned requirements are resolved
on the host into a wheelhouse for the target platform, which the Dockerfile installs from only.
"""

from edgeship.images.platforms import PLATFORMS, Platform, platform_named

__all__ = ["PLATFORMS", "Platform", "platform_named"]
