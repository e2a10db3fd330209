# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The output bag of a replay: per frame, what the node would publish for it.

Payloads come from ``tips_ros.io.outputs`` and ``tips_ros.io.camera_info`` (shared with the
node); every message keeps the input frame's header stamp and optical frame id.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections import Counter
from dataclasses import dataclass

import numpy as np

from tips_ros.engine.prediction import Prediction
from tips_ros.io.camera_info import Calibration
from tips_ros.io.outputs import (
    CAMERA_INFO_TOPIC,
    encode_prediction,
    LABELS_TOPIC,
    labels_json,
    point_cloud,
    POINTS_TOPIC,
    QUERIES_TOPIC,
    queries_json,
    STREAM_TOPICS,
    ZEROSHOT_LABELS_TOPIC,
    zeroshot_labels_json,
)
from tips_ros.offline.bags import BagWriter
from tips_ros.offline.scoring import resize


@dataclass
class Frame:
    """One decoded input frame: RGB ``HxWx3`` uint8, header stamp (ns) and optical frame id."""

    stamp_ns: int
    frame_id: str
    rgb: np.ndarray


def output_topics(heads: set[str], with_camera_info: bool) -> list[str]:
    """Return the relative output topics written for the engine ``heads`` (views included)."""
    topics = [t for t, (_, head) in STREAM_TOPICS.items() if head in heads]
    if "depth" in heads and with_camera_info:
        topics += [CAMERA_INFO_TOPIC, POINTS_TOPIC]
    if "segmentation" in heads:
        topics.append(LABELS_TOPIC)
    if "heatmaps" in heads:
        topics.append(QUERIES_TOPIC)
    if "zeroshot" in heads:
        topics.append(ZEROSHOT_LABELS_TOPIC)
    return topics


class OutputBag:
    """Write the node's output topics for each frame under ``prefix`` into a ``BagWriter``.

    Latched topics (label map, query list) are written once, at the first frame's stamp,
    with transient-local QoS. ``depth/camera_info`` and ``points`` need a valid camera info:
    the latest one read before the frame's batch is written (``calibration``), checked as the
    node checks it; each rejected calibration is counted once in ``camera_info_rejected`` (by
    reason) and written nothing from.
    """

    def __init__(self, bag: BagWriter, prefix: str, topics: Sequence[str],
                 labels: Sequence[str], queries: Sequence[str]) -> None:
        self.bag, self.topics = bag, list(topics)
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self._latched = {LABELS_TOPIC: labels_json(labels), QUERIES_TOPIC: queries_json(queries),
                         ZEROSHOT_LABELS_TOPIC: zeroshot_labels_json(queries)}
        self.calibration = Calibration()
        self.camera_info_rejected: Counter[str] = Counter()
        self.frames = 0

    def name(self, topic: str) -> str:
        """Return the absolute name of the relative output ``topic``."""
        return f"{self.prefix}/{topic}"

    def write(self, frame: Frame, pred: Prediction) -> None:
        """Write every output topic of one frame."""
        stamp, fid = frame.stamp_ns, frame.frame_id
        if self.frames == 0:
            for topic, text in self._latched.items():
                if topic in self.topics:
                    self.bag.write_string(self.name(topic), stamp, text, latched=True)
        for topic, encoded in encode_prediction(pred, self.topics).items():
            self.bag.write_image(self.name(topic), stamp, fid, encoded)
        if CAMERA_INFO_TOPIC in self.topics:
            self._write_geometry(frame, pred)
        self.frames += 1

    def _write_geometry(self, frame: Frame, pred: Prediction) -> None:
        """Write ``depth/camera_info`` and ``points`` as the node builds them.

        Nothing is written without a valid camera info, as the node publishes nothing.
        """
        height, width = pred.depth.shape
        model, error, changed = self.calibration.model(width, height, frame.frame_id)
        if error is not None and changed:
            self.camera_info_rejected[error.reason] += 1
        if model is None:
            return
        self.bag.write_camera_info(self.name(CAMERA_INFO_TOPIC), frame.stamp_ns, frame.frame_id,
                                   model.k, width, height, model.distortion_model, model.d,
                                   R=model.r, P=model.p)
        cloud = point_cloud(pred.depth, model.k,
                            resize(frame.rgb, (height, width), nearest=False), pred.labels)
        self.bag.write_point_cloud(self.name(POINTS_TOPIC), frame.stamp_ns, frame.frame_id, cloud)
