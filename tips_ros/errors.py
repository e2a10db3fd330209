# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The project's user-facing error types (a leaf module: it imports nothing of the package).

Each of these carries one sentence meant for the user; anything else is a bug and keeps its
traceback. All derive from :class:`TipsError`, so a caller (the command-line tool, a user's
script) catches them with one type. They are re-exported where they are raised
(``tips_ros.io.imaging``, ``tips_ros.offline.bags``, ``tips_ros.engine.loading``).

Why one module and not an ``errors`` module per subpackage (as the ``rosbags`` library has):
several of these are raised in more than one layer (``UsageError`` by the engine's ONNX
export, offline code and tools; ``ModelLoadError`` by the engine and, as ``ConversionError``,
by the converter), so they belong to none of the subpackages; the others are one or two
classes each. One leaf below every layer (see ``.importlinter``) lets every layer raise them
and lets ``tips-ros`` catch them after importing only this module: never torch, ``rosbags`` or
OpenCV.
"""

from __future__ import annotations

import argparse


class TipsError(Exception):
    """Base of the project's user-facing errors: ``str(error)`` is one sentence for the user."""


class UsageError(ValueError, argparse.ArgumentTypeError, TipsError):
    """A command-line argument that cannot work (bad value, missing file).

    Also an ``ArgumentTypeError``: raised by an argparse ``type=`` function, argparse shows
    its sentence as the usage error.
    """


class BagError(TipsError):
    """A bag that cannot be written or read."""


class BagExistsError(BagError, FileExistsError):
    """The output path of a new bag exists already."""


class BagWriteError(BagError):
    """A write to an output bag failed (a full disk): the bag keeps ``frames_kept`` frames.

    The bag is still closed and readable with the frames written before the failure.
    """

    def __init__(self, message: str, frames_kept: int) -> None:
        super().__init__(message)
        self.frames_kept = frames_kept


def os_reason(err: OSError | Exception) -> str:
    """Return an ``OSError`` as a short phrase: ``No space left on device: '/x'``."""
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    filename = getattr(err, "filename", None)
    return f"{text}: '{filename}'" if filename else text


class ImageDecodeError(ValueError, TipsError):
    """An image message that cannot be turned into an array.

    ``reason`` is a short stable key (``unknown_encoding``, ``bad_dimensions``, ...) used to
    count rejections in diagnostics and reports; ``str(error)`` is one sentence for humans.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ModelLoadError(RuntimeError, TipsError):
    """A model or tokenizer could not be loaded."""


class ConversionError(ModelLoadError):
    """Checkpoint files without the TIPS authors' layout (``tips-ros convert``).

    The message lists every problem found (unknown or missing keys, wrong shapes).
    """


class ModelUnavailableError(ModelLoadError):
    """A hub model that is neither in the local cache nor downloadable.

    Raised when ``HF_HUB_OFFLINE`` is set, the hub is unreachable or the id is unknown: the
    offline demo falls back to random weights on this one.
    """


def one_sentence(err: BaseException) -> str:
    """Return a user error as one line: an ``OSError`` as :func:`os_reason`, text folded."""
    text = str(err) if isinstance(err, TipsError) else os_reason(err)
    return " ".join(text.split())


#: What ``tips-ros`` (and ``tips-ros evaluate`` per bag) reports as one sentence, no traceback:
#: the project's errors and every ``OSError`` (a path that cannot be read or written).
USER_ERRORS: tuple[type[Exception], ...] = (TipsError, OSError)
