# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""One frame's metric sums computed on the engine's device, beside the frame's outputs.

The fast path of :mod:`tips_ros.offline.metrics`: :func:`frame_reduction` returns an
``Engine.infer`` reduction that takes a frame's output tensors (at its output size, on the
device), uploads the frame's ground truth and computes the same per-frame sums as
``DepthFrame.of``, ``NormalFrame.of`` and ``SegmentationFrame.of``, in float64 like them. It
never waits for the device: invalid pixels are masked with ``where`` instead of selected, and
the counts are scattered, so the sums come back to the host in the engine's one download of
the batch (a few numbers and two small arrays per frame instead of the maps).
:func:`tips_ros.offline.scoring.frame_sums` turns them into the ``*Frame`` sums that the
accumulators add exactly. Imported when a replay runs, not by the command line's help.

A prediction whose size differs from its ground truth is resized to it first, as
:func:`tips_ros.offline.scoring.resize` does on the host: bilinear (half-pixel centres, no
antialiasing) for depth and normals, nearest for class ids. The float sums equal numpy's up
to the order of summation; the counts are the same unless a value lies within rounding of a
threshold (``test/test_device_metrics.py`` states the tolerances).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from tips_ros.engine.postprocess import Reduction
from tips_ros.offline.metrics import (ANGLE_BIN_DEG, ANGLE_BINS, DELTA_THRESHOLDS,
                                      NORMAL_THRESHOLDS_DEG)
from tips_ros.offline.scoring import GT_TASKS


def frame_reduction(ground_truth: Mapping[str, np.ndarray], median_scaling: bool = False,
                    num_classes: int = 150, ignore_index: int = 255) -> Reduction:
    """Return the reduction that scores one frame's outputs against its ``ground_truth``.

    ``ground_truth``: task -> array as :func:`tips_ros.offline.inputs.ground_truth` returns
    it (depth ``HxW`` metres, normals ``HxWx3``, labels ``HxW`` class ids); tasks whose output
    the engine did not make are left out of the result.
    """

    def reduce(outputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        sums: dict[str, torch.Tensor] = {}
        for task, array in ground_truth.items():
            pred = outputs.get(GT_TASKS[task])
            if pred is None:
                continue
            if array.dtype == np.uint16:  # 16-bit labels: a dtype every torch op takes
                array = array.astype(np.int32)
            gt = torch.from_numpy(np.ascontiguousarray(array)).to(pred.device, non_blocking=True)
            pred = _resized(pred, tuple(gt.shape[:2]), nearest=task == "segmentation")
            if task == "depth":
                task_sums = depth_sums(pred, gt, median_scaling)
            elif task == "normals":
                task_sums = normal_sums(pred, gt)
            else:
                task_sums = segmentation_sums(pred, gt, num_classes, ignore_index)
            sums.update({f"{task}/{name}": value for name, value in task_sums.items()})
        return sums

    return reduce


def depth_sums(pred: torch.Tensor, gt: torch.Tensor, median_scaling: bool
               ) -> dict[str, torch.Tensor]:
    """``DepthFrame`` sums of ``HxW`` depth ``pred`` against ``gt`` (metres), on the device."""
    p, g = pred.double(), gt.double()
    mask = torch.isfinite(g) & (g > 0) & torch.isfinite(p)
    count = mask.sum()
    scale = torch.ones((), dtype=torch.float64, device=p.device)
    if median_scaling:
        median_pred = _masked_median(p, mask, count)
        scale = torch.where(median_pred > 0, _masked_median(g, mask, count) / median_pred, scale)
        p = p * scale
    g = torch.where(mask, g, 1.0)
    err = torch.where(mask, p - g, 0.0)
    ratio = torch.where(p > 0, torch.maximum(p / g, g / p), torch.inf)
    return {"count": count, "abs_rel": (err.abs() / g).sum(), "sq_err": err.square().sum(),
            "deltas": torch.stack([(mask & (ratio < t)).sum() for t in DELTA_THRESHOLDS]),
            "scale": scale}


def normal_sums(pred: torch.Tensor, gt: torch.Tensor) -> dict[str, torch.Tensor]:
    """``NormalFrame`` sums of ``HxWx3`` normals ``pred`` against ``gt``, on the device."""
    p, g = pred.double().unbind(-1), gt.double().unbind(-1)
    dot = p[0] * g[0] + p[1] * g[1] + p[2] * g[2]
    pred_norm = torch.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
    gt_norm = torch.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2])
    mask = (torch.isfinite(pred_norm) & torch.isfinite(gt_norm) & (pred_norm > 0)
            & (gt_norm > 0))
    cos = torch.where(mask, dot / (pred_norm * gt_norm), 1.0).clamp_(-1.0, 1.0)
    angles = torch.rad2deg(torch.arccos(cos))
    bins = (angles / ANGLE_BIN_DEG).long().clamp_(max=ANGLE_BINS - 1)
    return {"count": mask.sum(), "angle_sum": torch.where(mask, angles, 0.0).sum(),
            "within": torch.stack([(mask & (angles < t)).sum() for t in NORMAL_THRESHOLDS_DEG]),
            "histogram": _counts(bins, mask, ANGLE_BINS)}


def segmentation_sums(pred: torch.Tensor, gt: torch.Tensor, num_classes: int,
                      ignore_index: int) -> dict[str, torch.Tensor]:
    """``SegmentationFrame`` sums of ``HxW`` class ids ``pred`` against ``gt``, on the device.

    ``bad_ids`` is true when a counted ground-truth id is out of range (an error on the host).
    """
    p, g = pred.long(), gt.long()
    keep = g != ignore_index
    gt_valid = (g >= 0) & (g < num_classes)
    hit = keep & (p == g)
    return {"intersection": _counts(g, hit & gt_valid, num_classes),
            "pred_area": _counts(p, keep & (p >= 0) & (p < num_classes), num_classes),
            "gt_area": _counts(g, keep & gt_valid, num_classes),
            "correct": hit.sum(), "count": keep.sum(), "bad_ids": (keep & ~gt_valid).any()}


def _counts(values: torch.Tensor, mask: torch.Tensor, size: int) -> torch.Tensor:
    """Histogram of the masked ``values`` in ``0..size-1`` (int64), without a device sync."""
    index = torch.where(mask, values, size).reshape(-1)
    counts = torch.zeros(size + 1, dtype=torch.int64, device=values.device)
    return counts.scatter_add_(0, index, torch.ones_like(index))[:size]


def _masked_median(values: torch.Tensor, mask: torch.Tensor, count: torch.Tensor
                   ) -> torch.Tensor:
    """Return numpy's median of ``values[mask]`` (an even count: the two middles' mean)."""
    ordered = torch.sort(torch.where(mask, values, torch.inf).reshape(-1)).values
    low = ((count - 1) // 2).clamp(min=0).reshape(1)
    return (ordered.index_select(0, low) + ordered.index_select(0, count.reshape(1) // 2))[0] / 2


def _resized(pred: torch.Tensor, shape: tuple[int, ...], nearest: bool) -> torch.Tensor:
    """``pred`` (``HxW`` or ``HxWxC``) at ``shape`` (rows, columns); itself at that size."""
    if tuple(pred.shape[:2]) == shape:
        return pred
    planes = (pred[None, None] if pred.ndim == 2 else pred.permute(2, 0, 1)[None]).float()
    if nearest:
        out = F.interpolate(planes, size=shape, mode="nearest")
    else:
        out = F.interpolate(planes, size=shape, mode="bilinear", align_corners=False)
    out = out[0, 0] if pred.ndim == 2 else out[0].permute(1, 2, 0)
    return out.to(pred.dtype) if nearest else out
