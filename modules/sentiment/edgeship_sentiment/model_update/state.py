"""The states of a model update, as the twin's reported ``model.state`` and ``status.json`` spell them."""

from __future__ import annotations

from enum import StrEnum


class UpdateState(StrEnum):
    BAKED_IN = "baked-in"  # the model in the image (or MODEL_DIR); no update asked for yet
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    APPLIED = "applied"
    REJECTED = "rejected"  # the previous model keeps serving; "reason" says why
