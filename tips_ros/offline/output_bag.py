# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The output bag of a replay: per frame, what the node would publish for it.

Payloads come from ``tips_ros.io.outputs``, ``tips_ros.io.camera_info`` and
``tips_ros.io.detections`` (shared with the node); every message keeps the input frame's
header stamp and optical frame id. The vision_msgs topics (label map, detections) are written
when the installed vision_msgs types could be read (:mod:`tips_ros.offline.vision_types`).
"""

from __future__ import annotations

from collections.abc import Sequence
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from tips_ros.engine.parameters import DEFAULTS
from tips_ros.engine.prediction import Prediction
from tips_ros.io.camera_info import Calibration, CameraModel
from tips_ros.io.cdr import image_parts, point_cloud_parts
from tips_ros.io.detections import find_detections
from tips_ros.io.outputs import (
    CAMERA_INFO, CAMERA_INFO_TOPIC, DETECTIONS_3D_TOPIC, DETECTIONS_TOPIC, encode_prediction,
    FROM_CLASS_NAMES, FROM_QUERIES, IMAGE, JSON, LABEL_INFO_TOPIC, point_cloud, POINTS,
    POINTS_TOPIC, TOPICS,
)
from tips_ros.offline import vision_types
from tips_ros.offline.bags import (
    BagWriter,
    CAMERA_INFO_MSGTYPE,
    IMAGE_MSGTYPE,
    POINT_CLOUD_MSGTYPE,
    STRING_MSGTYPE,
)
from tips_ros.offline.mcap_storage import Payload


@dataclass
class Frame:
    """One decoded input frame: RGB ``HxWx3`` uint8, header stamp (ns) and optical frame id."""

    stamp_ns: int
    frame_id: str
    rgb: np.ndarray


@dataclass(frozen=True)
class Message:
    """One serialised output message: absolute topic, type, log time (ns), CDR bytes.

    ``data`` may be parts (header, a view of the pixels, tail) that joined are the bytes.
    """

    topic: str
    msgtype: str
    stamp_ns: int
    data: Payload
    latched: bool = False


class OutputBag:
    """Write the node's output topics for each frame under ``prefix`` into a ``BagWriter``.

    Latched topics (label map, query list) are written once, at the first frame's stamp,
    with transient-local QoS. ``depth/camera_info`` and ``points`` need a valid camera info:
    the latest one read before the frame's batch is written (``calibration``), checked as the
    node checks it; each rejected calibration is counted once in ``camera_info_rejected`` (by
    reason) and written nothing from.
    """

    #: the kinds of output topic written without the vision_msgs types (with them: all)
    KINDS_WITHOUT_VISION = (IMAGE, CAMERA_INFO, POINTS, JSON)

    def __init__(self, bag: BagWriter, prefix: str, topics: Sequence[str],
                 class_names: Sequence[str], queries: Sequence[str],
                 detection_threshold: float = DEFAULTS["detection_threshold"]) -> None:
        self.bag, self.topics = bag, list(topics)
        self.class_names, self.detection_threshold = list(class_names), detection_threshold
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        values = {FROM_CLASS_NAMES: class_names, FROM_QUERIES: queries}
        self._latched = {name: topic.payload(values[topic.source])
                         for name, topic in TOPICS.items()
                         if topic.kind == JSON and name in self.topics}
        self.calibration = Calibration()
        self.camera_info_rejected: Counter[str] = Counter()
        self.frames = 0

    def name(self, topic: str) -> str:
        """Return the absolute name of the relative output ``topic``."""
        return f"{self.prefix}/{topic}"

    def messages(self, frame: Frame, pred: Prediction) -> list[Message]:
        """Return every output message of one frame, serialised, in writing order."""
        stamp, fid = frame.stamp_ns, frame.frame_id
        sec, nanosec = divmod(stamp, 1_000_000_000)
        out = []
        if self.frames == 0:
            for topic, text in self._latched.items():
                out.append(self._typed(topic, STRING_MSGTYPE, stamp, self.bag.string(text),
                                       latched=True))
            if LABEL_INFO_TOPIC in self.topics:
                out.append(self._typed(LABEL_INFO_TOPIC, vision_types.LABEL_INFO, stamp,
                                       vision_types.label_info(self.bag.typestore,
                                                               self.bag.header(stamp, ""),
                                                               self.class_names), latched=True))
        for topic, encoded in encode_prediction(pred, self.topics).items():
            out.append(Message(self.name(topic), IMAGE_MSGTYPE, stamp,
                               image_parts(sec, nanosec, fid, encoded)))
        model = self._camera_model(frame, pred) if CAMERA_INFO_TOPIC in self.topics else None
        if model is not None:
            out += self._geometry(frame, pred, model)
        if DETECTIONS_TOPIC in self.topics:
            out += self._detections(frame, pred, model)
        self.frames += 1
        return out

    def write(self, messages: Sequence[Message]) -> None:
        """Write one frame's messages built by :meth:`messages`, then a bag checkpoint.

        After the checkpoint the frame survives a later failed write (``BagWriter``).
        """
        for message in messages:
            self.bag.write_serialized(message.topic, message.msgtype, message.stamp_ns,
                                      message.data, message.latched)
        self.bag.checkpoint()

    def _typed(self, topic: str, msgtype: str, stamp_ns: int, msg: Any,
               latched: bool = False) -> Message:
        """Serialise a typestore message for relative ``topic``."""
        return Message(self.name(topic), msgtype, stamp_ns,
                       self.bag.typestore.serialize_cdr(msg, msgtype), latched)

    def _camera_model(self, frame: Frame, pred: Prediction) -> CameraModel | None:
        """Return the frame's checked camera model, as the node checks it (None: rejected)."""
        height, width = pred.depth.shape  # the output size; checked against the camera's
        model, error, changed = self.calibration.model(width, height, frame.frame_id,
                                                       (frame.rgb.shape[1], frame.rgb.shape[0]))
        if error is not None and changed:
            self.camera_info_rejected[error.reason] += 1
        return model

    def _detections(self, frame: Frame, pred: Prediction,
                    model: CameraModel | None) -> list[Message]:
        """Return the frame's ``detections`` (and ``detections_3d`` with a camera model)."""
        with_3d = model is not None and DETECTIONS_3D_TOPIC in self.topics
        found = find_detections(pred.heatmaps, pred.queries, self.detection_threshold,
                                pred.depth if with_3d else None, model.k if with_3d else None)
        header = self.bag.header(frame.stamp_ns, frame.frame_id)
        typestore = self.bag.typestore
        out = [self._typed(DETECTIONS_TOPIC, vision_types.DETECTION_2D_ARRAY, frame.stamp_ns,
                           vision_types.detections_2d(typestore, header, found))]
        if with_3d:
            out.append(self._typed(DETECTIONS_3D_TOPIC, vision_types.DETECTION_3D_ARRAY,
                                   frame.stamp_ns,
                                   vision_types.detections_3d(typestore, header, found)))
        return out

    def _geometry(self, frame: Frame, pred: Prediction, model: CameraModel) -> list[Message]:
        """Return ``depth/camera_info`` and ``points`` as the node builds them (valid info)."""
        height, width = pred.depth.shape
        stamp, fid = frame.stamp_ns, frame.frame_id
        info = self.bag.camera_info(stamp, fid, model.k, width, height, model.distortion_model,
                                    model.d, R=model.r, P=model.p)
        cloud = point_cloud(pred.depth, model.k, frame.rgb, pred.class_ids)
        sec, nanosec = divmod(stamp, 1_000_000_000)
        return [self._typed(CAMERA_INFO_TOPIC, CAMERA_INFO_MSGTYPE, stamp, info),
                Message(self.name(POINTS_TOPIC), POINT_CLOUD_MSGTYPE, stamp,
                        point_cloud_parts(sec, nanosec, fid, cloud.fields, cloud.point_step,
                                          cloud.data, cloud.dense, cloud.height))]
