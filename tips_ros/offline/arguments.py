# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Value parsers shared by the ``tips-ros`` subcommands (no torch, no ROS).

Each raises :class:`~tips_ros.errors.UsageError` with one sentence; that error is also an
``argparse.ArgumentTypeError``, so the same function serves as an argparse ``type=`` (the
sentence becomes the usage error) and in code (the CLI prints it, exit code 2).
"""

from __future__ import annotations

from typing import NamedTuple

from tips_ros.errors import UsageError
from tips_ros.engine.queries import MAX_QUERIES, MAX_QUERY_LENGTH, QueryError, parse_queries


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


def query_list(text: str) -> list[str]:
    """Parse ``--queries``: a JSON list of strings or comma-separated text.

    Checked with the node's parser and its default limits (parameters ``max_queries``,
    ``max_query_length``).
    """
    try:
        return parse_queries(text, MAX_QUERIES, MAX_QUERY_LENGTH)
    except QueryError as err:
        raise UsageError(f"queries rejected: {err}") from None
