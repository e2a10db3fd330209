# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Colour views of the model's outputs, computed on the outputs' own device.

Every function takes batched torch tensors (CPU or CUDA, the same code) and returns a
C-contiguous ``uint8`` tensor of shape ``BxHxWx3`` in RGB order, so each view costs one
device-to-host copy and can be published as ``rgb8`` without further work.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from tips_ros.engine.ade20k import ADE20K_CLASSES, label_palette


@lru_cache(maxsize=1)
def _turbo_lut() -> np.ndarray:
    """Read OpenCV's Turbo table (``cv2.COLORMAP_TURBO``, Google's 256 colours) as RGB."""
    import cv2  # only the first call pays for importing OpenCV

    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    lut = np.ascontiguousarray(cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO)[:, 0, ::-1])
    lut.setflags(write=False)
    return lut


def depth_lut() -> np.ndarray:
    """Return the depth colour map, Turbo, as a ``256x3`` uint8 RGB table (a writable copy).

    Exactly OpenCV's ``COLORMAP_TURBO`` (the 256 colours Google published), in RGB order.
    Row 0 is the colour of the nearest depth shown (dark purple-blue), through blue, cyan,
    green, yellow and orange to row 255, the farthest (dark red); the replay preview draws
    depth and its scale bar with it.
    """
    return _turbo_lut().copy()


def colorize_normals(normals: torch.Tensor) -> torch.Tensor:
    """Colour ``BxHxWx3`` unit normals as ``(n + 1) / 2 * 255`` (rounded) -> uint8 RGB.

    x (right) drives red, y (down) green, z (forward) blue; a surface facing the camera,
    ``(0, 0, -1)``, is ``(128, 128, 0)``. Pixels with any NaN component are black.
    """
    normals = normals.float()
    colours = ((normals + 1.0) * 127.5).clamp(0.0, 255.0).round()
    invalid = torch.isnan(normals).any(dim=-1, keepdim=True)
    return torch.nan_to_num(colours, nan=0.0).masked_fill(invalid, 0.0).to(torch.uint8)


def ade20k_palette() -> torch.Tensor:
    """Return the ``150x3`` uint8 palette of the ADE20K classes.

    The colours of :func:`tips_ros.engine.ade20k.label_palette`.
    """
    return torch.from_numpy(label_palette(len(ADE20K_CLASSES)))


def colorize_labels(labels: torch.Tensor, palette: torch.Tensor | None = None) -> torch.Tensor:
    """Colour ``BxHxW`` integer class ids with a ``Kx3`` uint8 ``palette`` -> uint8 RGB.

    ``palette`` defaults to :func:`ade20k_palette`. Ids outside ``0 .. K-1`` (e.g. an
    ignore label of 255, or -1) are black.
    """
    palette = (ade20k_palette() if palette is None else palette).to(labels.device, torch.uint8)
    ids = labels.long()
    valid = (ids >= 0) & (ids < palette.shape[0])
    colours = palette[ids.clamp(0, palette.shape[0] - 1)]
    return colours.masked_fill(~valid.unsqueeze(-1), 0)


def overlay_heatmaps(
    rgb: torch.Tensor,
    heatmaps: torch.Tensor,
    alpha: float = 0.5,
    palette: torch.Tensor | None = None,
) -> torch.Tensor:
    """Blend the strongest text query at each pixel over the image -> ``BxHxWx3`` uint8 RGB.

    ``rgb`` is ``BxHxWx3`` uint8; ``heatmaps`` is ``BxQxhxw`` similarities (any float
    scale), resized bilinearly to ``HxW`` if its size differs. What the view shows:

    1. each query's map is min-max normalised over its own frame to ``s_q`` in 0..1 (so
       every query's best region is visible, whatever its raw similarity level; NaN and
       +-Inf count as a raw similarity of 0);
    2. each pixel takes the query ``q*`` with the highest ``s_q`` and its score ``s``;
    3. ``out = rgb * (1 - alpha * s) + colour[q*] * alpha * s``, where ``colour`` is
       ``palette`` (``Qx3`` uint8, default ``label_palette(Q)``, the same colours as the
       first Q segmentation classes).

    So the pixels most like a query are tinted with that query's colour at strength
    ``alpha``, and the least similar pixels show the plain image. With no queries (Q = 0)
    the image is returned unchanged (as a new tensor).
    """
    batch, queries = heatmaps.shape[:2]
    height, width = rgb.shape[1:3]
    if queries == 0:
        return rgb.clone()
    scores = torch.nan_to_num(heatmaps.float(), nan=0.0, posinf=0.0, neginf=0.0)
    if scores.shape[2:] != (height, width):
        scores = F.interpolate(scores, size=(height, width), mode="bilinear", align_corners=False)
    flat = scores.reshape(batch, queries, -1)
    low = flat.amin(dim=2, keepdim=True)
    span = (flat.amax(dim=2, keepdim=True) - low).clamp_min(1e-12)
    normalised = ((flat - low) / span).reshape(scores.shape)
    strength, best = normalised.max(dim=1)  # B x H x W each
    if palette is None:
        palette = torch.from_numpy(label_palette(queries))
    colours = palette.to(rgb.device, torch.float32)[best]  # B x H x W x 3
    weight = (alpha * strength).unsqueeze(-1)
    blended = rgb.float() * (1.0 - weight) + colours * weight
    return blended.round().clamp(0.0, 255.0).to(torch.uint8)
