# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Scoring a replay: predictions matched to ground truth by header stamp.

The metrics themselves are in ``tips_ros.offline.metrics``. A frame whose ground truth was
read before the engine ran on it is scored on the engine's device
(:mod:`tips_ros.offline.device_metrics`; :meth:`Scorer.add_sums` adds its sums); this module
pairs the other frames' predictions with ground truth that comes after them in the bag and
scores them on the host (numpy, the reference of the device path).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from tips_ros.engine.prediction import Prediction
from tips_ros.offline.metrics import (DepthFrame, ground_truth_ids_error, MetricsAccumulator,
                                      NormalFrame, SegmentationFrame)

#: Ground-truth task -> the output (``Prediction`` field) it is scored against.
GT_TASKS: dict[str, str] = {"depth": "depth", "normals": "normals", "segmentation": "class_ids"}


#: Predictions held per task for ground truth still to come; beyond, the oldest is dropped.
HOLD_FRAMES = 64


class Scorer:
    """Match predictions to ground truth by header stamp and feed ``MetricsAccumulator``.

    Ground truth and predictions may arrive in either order; whichever comes second triggers
    scoring. A prediction whose size differs from its ground truth is resized to it
    (nearest for labels, bilinear otherwise). At most :data:`HOLD_FRAMES` predictions per
    task wait for their ground truth (the newest; a bag whose ground truth covers only some
    frames keeps memory bounded): ground truth that comes later than that is not scored.
    """

    def __init__(self, tasks: Sequence[str], metrics: MetricsAccumulator) -> None:
        self.metrics, self.tasks = metrics, tuple(tasks)
        self._gt: dict[str, dict[int, np.ndarray]] = {t: {} for t in tasks}
        self._pred: dict[str, dict[int, np.ndarray]] = {t: {} for t in tasks}
        self.scored: Counter[str] = Counter()
        self.on_device: Counter[str] = Counter()  # frames scored on the engine's device

    def add_gt(self, task: str, stamp_ns: int, array: np.ndarray) -> None:
        """Add the ground truth of ``task`` for the frame stamped ``stamp_ns``."""
        self._gt[task][stamp_ns] = array
        self._match(task, stamp_ns)

    def add_prediction(self, stamp_ns: int, pred: Prediction,
                       tasks: Sequence[str] | None = None) -> None:
        """Add the prediction of the frame stamped ``stamp_ns`` for ``tasks`` (default: all).

        Keeps only the arrays scored, until their ground truth comes.
        """
        for task in self._pred if tasks is None else tasks:
            held = self._pred[task]
            held[stamp_ns] = getattr(pred, GT_TASKS[task])
            self._match(task, stamp_ns)
            if len(held) > HOLD_FRAMES:
                del held[min(held)]

    def add_sums(self, sums: dict[str, np.ndarray]) -> None:
        """Add one frame's metric sums computed on the device (``Prediction.reductions``)."""
        metrics = self.metrics
        for task, frame in frame_sums(sums, metrics.num_classes, metrics.ignore_index).items():
            metrics.add_frame(task, frame)
            self.scored[task] += 1
            self.on_device[task] += 1

    def drop_gt_before(self, stamp_ns: int) -> None:
        """Forget unmatched ground truth older than ``stamp_ns`` (frames skipped or failed)."""
        for table in self._gt.values():
            for stamp in [s for s in table if s < stamp_ns]:
                del table[stamp]

    @property
    def pending(self) -> int:
        """Count the predictions still waiting for their ground truth."""
        return sum(len(table) for table in self._pred.values())

    def _match(self, task: str, stamp_ns: int) -> None:
        if stamp_ns not in self._gt[task] or stamp_ns not in self._pred[task]:
            return
        gt = self._gt[task].pop(stamp_ns)
        pred = resize(self._pred[task].pop(stamp_ns), gt.shape[:2],
                      nearest=task == "segmentation")
        if task == "depth":
            self.metrics.add_depth(pred, gt)
        elif task == "normals":
            self.metrics.add_normals(pred, gt)
        else:
            self.metrics.add_segmentation(pred, gt)
        self.scored[task] += 1


def frame_sums(sums: Mapping[str, np.ndarray], num_classes: int = 150, ignore_index: int = 255
               ) -> dict[str, DepthFrame | NormalFrame | SegmentationFrame]:
    """Return task -> its frame sums, from a device reduction's downloaded ``sums``.

    ``sums``: ``task/field`` -> array, as :mod:`tips_ros.offline.device_metrics` computes
    them (``Prediction.reductions``).

    Raises ``ValueError`` (as ``SegmentationFrame.of``) for label ids out of range.
    """
    tasks = {key.split("/")[0] for key in sums}
    out: dict[str, DepthFrame | NormalFrame | SegmentationFrame] = {}
    if "depth" in tasks:
        out["depth"] = DepthFrame(int(sums["depth/count"]), float(sums["depth/abs_rel"]),
                                  float(sums["depth/sq_err"]),
                                  tuple(int(v) for v in sums["depth/deltas"]),  # type: ignore
                                  float(sums["depth/scale"]))
    if "normals" in tasks:
        out["normals"] = NormalFrame(int(sums["normals/count"]),
                                     float(sums["normals/angle_sum"]),
                                     tuple(int(v) for v in sums["normals/within"]),  # type: ignore
                                     np.asarray(sums["normals/histogram"], dtype=np.int64))
    if "segmentation" in tasks:
        if bool(sums["segmentation/bad_ids"]):
            raise ValueError(ground_truth_ids_error(num_classes, ignore_index))
        out["segmentation"] = SegmentationFrame(
            *(np.asarray(sums[f"segmentation/{name}"], dtype=np.int64)
              for name in ("intersection", "pred_area", "gt_area")),
            int(sums["segmentation/correct"]), int(sums["segmentation/count"]))
    return out


def resize(array: np.ndarray, shape: tuple[int, ...], nearest: bool) -> np.ndarray:
    """Return ``array`` (``HxW`` or ``HxWxC``) resized to ``shape`` (rows, columns).

    Nearest-neighbour for class ids, bilinear otherwise; ``array`` itself when it has that
    size already.
    """
    if array.shape[:2] == tuple(shape):
        return array
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(array, (shape[1], shape[0]), interpolation=interpolation)
