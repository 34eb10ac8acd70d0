"""New model versions through the twin: download, verify, unpack, check, score the parity sample, swap.

``updater.ModelUpdater`` runs the steps on its own thread; each step is a small module:
``desired`` (the twin's ``model`` property), ``fetch`` (file:// and http(s):// with a size limit
and a timeout, sha256 on the way), ``unpack`` (a tar.gz that cannot write outside its folder),
``checks`` (model.json against the running model, the parity sample), ``store`` (the applied
model on disk, used again after a restart).
"""

from edgeship_sentiment.model_update.desired import DesiredModel, parse_desired_model
from edgeship_sentiment.model_update.store import ModelStore
from edgeship_sentiment.model_update.updater import ModelUpdater

__all__ = ["DesiredModel", "ModelStore", "ModelUpdater", "parse_desired_model"]
