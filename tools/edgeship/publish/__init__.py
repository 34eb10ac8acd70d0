"""Model archives for devices: ``edgeship model publish`` writes them, ``edgeship model serve`` serves them."""

from edgeship.publish.archive import archive_folder, desired_patch
from edgeship.publish.publish import Published, publish_folder

__all__ = ["Published", "archive_folder", "desired_patch", "publish_folder"]
