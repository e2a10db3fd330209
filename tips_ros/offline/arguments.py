# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Value parsers shared by the ``tips-ros`` subcommands (no torch, no ROS).

Each raises :class:`~tips_ros.errors.UsageError` with one sentence; that error is also an
``argparse.ArgumentTypeError``, so the same function serves as an argparse ``type=`` (the
sentence becomes the usage error) and in code (the CLI prints it, exit code 2).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from tips_ros.engine.queries import MAX_QUERIES, MAX_QUERY_LENGTH, QueryError, parse_queries
from tips_ros.errors import os_reason, UsageError

T = TypeVar("T")


class Size(NamedTuple):
    """An image size in pixels, written ``WIDTHxHEIGHT`` on the command line."""

    width: int
    height: int


def parse_size(text: str, minimum: int = 1) -> Size:
    """Parse ``"640x480"`` into ``Size(width=640, height=480)``; both sides >= ``minimum``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"size '{text}' is not WIDTHxHEIGHT, e.g. 640x480") from None
    if width < minimum or height < minimum:
        raise UsageError(f"size '{text}' is too small (at least {minimum}x{minimum})")
    return Size(width, height)


def positive_int(text: str) -> int:
    """Parse an integer >= 1 (a count: frames, batch size, workers)."""
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{text} is not an integer") from None
    if value < 1:
        raise UsageError(f"{text} is not a positive integer")
    return value


def parse_list(text: str, kind: Callable[[str], T] = str) -> list[T]:
    """Split a comma list, empty items dropped: ``"1,8"`` -> ``[1, 8]`` (with ``kind=int``).

    ``kind`` converts each item; its ``ValueError`` (``UsageError`` included) becomes a
    ``UsageError`` that names the list. Query lists have their own rules (:func:`query_list`).
    """
    try:
        return [kind(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError as err:
        raise UsageError(f"cannot parse list '{text}': {err}") from err


def query_list(text: str) -> list[str]:
    """Parse ``--queries``: a JSON list of strings or comma-separated text.

    Checked with the node's parser and its default limits (parameters ``max_queries``,
    ``max_query_length``).
    """
    try:
        return parse_queries(text, MAX_QUERIES, MAX_QUERY_LENGTH)
    except QueryError as err:
        raise UsageError(f"queries rejected: {err}") from None


def check_writable(path: Path, what: str) -> None:
    """Raise ``UsageError`` unless ``path`` can be written (before any model loads).

    ``what`` names it in the sentence (``--report``). An existing ``path`` must be a writable
    file (a folder where a file is meant is refused); otherwise the nearest existing folder
    above it must be a folder in which a file can be created (tried for real, so a read-only
    file system counts too); missing folders between are created when it is written.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what} {path} is a folder; give a file name.")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(f"{what} {path} exists and cannot be overwritten (permission "
                             "denied).")
        return
    check_folder_writable(path.parent, what)


def check_folder_writable(folder: Path, what: str) -> None:
    """Raise ``UsageError`` unless files can be created in ``folder`` (created if missing)."""
    existing = Path(folder).absolute()
    while not existing.exists() and not existing.is_symlink():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{what}: {existing} is a file, not a folder.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".tips_ros_probe_", dir=existing)
    except OSError as err:
        reason = err.strerror or os_reason(err)
        raise UsageError(f"{what}: cannot write in {existing} ({reason}).") from None
    os.close(fd)
    os.unlink(probe)
