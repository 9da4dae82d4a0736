"""The errors a user can cause, each meant to be read as one line without a traceback.

The command-line tools print them as ``error: ...`` and exit 2; the app shows them as its error toast.
"""
from __future__ import annotations


class DataError(Exception):
    """A problem with the user's data or settings: a missing folder, no images, a device that is not there."""


class ModelNotFoundError(Exception):
    """A model path or repo id that does not lead to a usable model folder."""


class CheckpointError(Exception):
    """A training checkpoint that is missing, damaged or not this run's."""


class DownloadError(Exception):
    """A dataset or model download that failed."""


class BadImage(ValueError):
    """An uploaded picture that cannot be used."""


class BadVideo(ValueError):
    """A video that cannot be translated."""


class CatalogError(ValueError):
    """An unknown model, a model that cannot be loaded, or a direction it lacks."""
