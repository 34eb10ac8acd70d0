"""The one exception tree of the sentiment module.

SentimentModuleError
├── ModelLoadError     the model folder is missing, incomplete or inconsistent
├── BadRequestError    a request the module answers with an error reply (never a crash)
└── ModelUpdateError   a new model was refused (bad download, package or parity); the old one serves
"""

from __future__ import annotations


class SentimentModuleError(Exception):
    """Base of every error the module raises on purpose."""


class ModelLoadError(SentimentModuleError):
    """The model folder is missing, incomplete or inconsistent."""


class BadRequestError(SentimentModuleError):
    """The request cannot be scored; the message is sent back to the caller."""


class ModelUpdateError(SentimentModuleError):
    """A model update (twin ``model`` or ``service update``) was refused; the running model stays."""
