"""The project's user-facing error types, gathered for the command-line tool.

Each of these carries one sentence meant for the user; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from tips_ros.bags import BagError
from tips_ros.imaging import ImageDecodeError
from tips_ros.loading import ModelLoadError


class UsageError(ValueError):
    """A command-line argument that cannot work (bad value, missing file)."""


USER_ERRORS: tuple[type[Exception], ...] = (
    BagError,
    ImageDecodeError,
    ModelLoadError,
    UsageError,
    FileNotFoundError,
    FileExistsError,
)
