# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Text-query detections: connected regions of each query's heatmap above a threshold.

Numpy and OpenCV only, on the host arrays of one frame's Prediction, so the node
(``detections``, ``detections_3d``: vision_msgs) and ``tips-ros replay`` (the output bag) build
the same detections. For each query (heatmap channel), the 8-connected regions of pixels whose
value is above ``threshold`` each become one :class:`Detection`: ``query`` = the query text,
``score`` = the region's peak value, a 2D box in the pixels of the heatmap (the published
images' size) and, with depth and the camera matrix of that image, a 3D box in metres in the
camera optical frame (x right, y down, z forward).

The threshold is in the heatmap's unit: cosine similarity with ``heatmap_mode: cosine`` (the
default). Cosine is the scale to threshold: a query's cosine does not depend on the other
queries, whereas the softmax across queries does (a single query is 1.0 everywhere, and adding
a query moves every other query's regions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Percentiles of the region's 3D points (x, y, z separately) that bound its 3D box: robust to
#: the few pixels of the region that see the background or foreground (depth edges).
BOX_PERCENTILES = (5.0, 95.0)


@dataclass(frozen=True)
class Box3D:
    """An axis-aligned box in the camera optical frame, metres: centre and full size."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]


@dataclass(frozen=True)
class Detection:
    """One region of one query's heatmap.

    ``center`` and ``size`` are the 2D box in pixels (pixel centres at integer coordinates:
    a region covering columns ``u0..u1`` has centre ``(u0 + u1) / 2`` and width
    ``u1 - u0 + 1``); ``box_3d`` is None without depth and camera matrix, or when no pixel of
    the region has a valid depth.
    """

    query: str
    score: float
    center: tuple[float, float]
    size: tuple[float, float]
    box_3d: Box3D | None = None


def find_detections(heatmaps: np.ndarray, queries: Sequence[str], threshold: float,
                    depth: np.ndarray | None = None,
                    k: np.ndarray | None = None) -> list[Detection]:
    """Return the detections of one frame, query by query, regions in label order.

    ``heatmaps`` is ``H x W x Q`` (channel i = ``queries[i]``); ``depth`` ``H x W`` metres
    (valid: finite and > 0) and ``k`` its 3x3 camera matrix give each detection its 3D box.
    NaN heatmap values never pass. Whole-image array work per query, whatever the number of
    regions (a noisy heatmap has hundreds).
    """
    out = []
    # one comparison for every channel, each channel's mask contiguous for OpenCV
    above = np.ascontiguousarray(np.moveaxis(heatmaps > threshold, -1, 0)).view(np.uint8)
    for channel, query in enumerate(queries):
        if not above[channel].any():
            continue
        count, labels, stats, _ = cv2.connectedComponentsWithStats(above[channel],
                                                                   connectivity=8)
        pixels = np.flatnonzero(labels)  # flat indices of the pixels in a region
        region = labels.ravel()[pixels]
        peaks = np.full(count, -np.inf)
        np.maximum.at(peaks, region, heatmaps[..., channel].ravel()[pixels])
        boxes = (region_boxes_3d(depth, k, pixels, region, count)
                 if depth is not None and k is not None else [None] * count)
        for label in range(1, count):
            u0, v0, width, height = (int(s) for s in stats[label, :4])
            out.append(Detection(
                query, float(peaks[label]),
                (u0 + (width - 1) / 2.0, v0 + (height - 1) / 2.0), (float(width), float(height)),
                boxes[label]))
    return out


def region_boxes_3d(depth: np.ndarray, k: np.ndarray, pixels: np.ndarray, region: np.ndarray,
                    count: int) -> list[Box3D | None]:
    """Back-project each region's valid depth pixels; bound them by :data:`BOX_PERCENTILES`.

    ``pixels`` are flat indices into ``depth`` (``H x W`` metres) and ``region`` their labels
    (1 .. ``count`` - 1); ``k`` is the image's 3x3 camera matrix. Returns one box per label
    (index 0 unused), None for a region without a valid pixel. Percentiles are nearest-rank:
    of a region's ``n`` values sorted, the one at ``round(p / 100 * (n - 1))``.
    """
    z = depth.ravel()[pixels].astype(np.float64)
    valid = np.isfinite(z) & (z > 0)
    z, pixels, region = z[valid], pixels[valid], region[valid]
    if not z.size:
        return [None] * count
    rows, cols = np.divmod(pixels, depth.shape[1])
    points = ((cols - k[0, 2]) / k[0, 0] * z, (rows - k[1, 2]) / k[1, 1] * z, z)
    sizes = np.bincount(region, minlength=count)
    starts = np.cumsum(sizes) - sizes
    at = [starts + np.round(p / 100 * (sizes - 1)).astype(np.int64) for p in BOX_PERCENTILES]
    # per axis, the values sorted within each region (regions in label order): by value, then
    # stably by region
    by_value = [np.argsort(axis, kind="stable") for axis in points]
    ordered = [axis[order[np.argsort(region[order], kind="stable")]]
               for axis, order in zip(points, by_value)]
    low, high = (np.stack([np.take(axis, index, mode="clip") for axis in ordered], axis=1)
                 for index in at)
    return [Box3D(tuple(float(c) for c in (low[label] + high[label]) / 2),
                  tuple(float(s) for s in high[label] - low[label])) if sizes[label] else None
            for label in range(count)]
