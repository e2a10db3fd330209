# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Deterministic test images."""

from __future__ import annotations

import numpy as np


def random_image(height: int, width: int, seed: int) -> np.ndarray:
    """Return an HxWx3 uint8 image: smooth 8x8-pixel blobs plus noise (not flat, not noise)."""
    rng = np.random.default_rng(seed)
    smooth = rng.random((height // 8 + 1, width // 8 + 1, 3))
    big = np.kron(smooth, np.ones((8, 8, 1)))[:height, :width]
    return (255 * (0.7 * big + 0.3 * rng.random((height, width, 3)))).astype(np.uint8)
