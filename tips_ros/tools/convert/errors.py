# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The converter's error: input files that do not have the authors' layout."""

from __future__ import annotations

from tips_ros.errors import ModelLoadError


class ConversionError(ModelLoadError):
    """The input files do not have the authors' layout; the message lists every problem."""
