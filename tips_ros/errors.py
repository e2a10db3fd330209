# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The project's user-facing error types (no imports of the rest of the package).

Each of these carries one sentence meant for the user; anything else is a bug and keeps its
traceback. They are defined here, a leaf module, and re-exported where they are raised
(``tips_ros.offline.bags``, ``tips_ros.io.imaging``, ``tips_ros.engine.loading``), so the command-line tool
catches them without importing ``rosbags``, OpenCV or transformers.
"""

from __future__ import annotations

import argparse


class UsageError(ValueError, argparse.ArgumentTypeError):
    """A command-line argument that cannot work (bad value, missing file).

    Also an ``ArgumentTypeError``: raised by an argparse ``type=`` function, argparse shows
    its sentence as the usage error.
    """


class BagError(Exception):
    """A bag that cannot be written or read; ``str(error)`` is one sentence for the user."""


class BagExistsError(BagError, FileExistsError):
    """The output path of a new bag exists already."""


class ImageDecodeError(ValueError):
    """An image message that cannot be turned into an array.

    ``reason`` is a short stable key (``unknown_encoding``, ``bad_dimensions``, ...) used to
    count rejections in diagnostics and reports; ``str(error)`` is one sentence for humans.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ModelLoadError(RuntimeError):
    """A model or tokenizer could not be loaded; the message is one user-facing sentence."""


class ModelUnavailableError(ModelLoadError):
    """A hub model that is neither in the local cache nor downloadable (HF_HUB_OFFLINE set, hub
    unreachable, unknown id): the offline demo falls back to random weights on this one."""


USER_ERRORS: tuple[type[Exception], ...] = (
    BagError,
    ImageDecodeError,
    ModelLoadError,
    UsageError,
    FileNotFoundError,
    FileExistsError,
)
