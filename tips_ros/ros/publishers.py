# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Output publishers of one camera, and publishing one frame's outputs on them.

Topics are those of :data:`tips_ros.io.outputs.TOPICS` under the camera's prefix.
Per-frame topics (images, ``depth/camera_info``, ``points``, the detections) use the
``output_reliability`` QoS (keep last 1); the latched ones (label maps, query list, zero-shot
labels) are reliable and transient local. Every output carries the input image's header
(stamp and optical ``frame_id``). All publishers are lifecycle publishers: they publish only
while the node is active. The vision_msgs topics exist only where vision_msgs is importable
(:mod:`tips_ros.ros.vision`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.lifecycle import LifecycleNode
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String

from tips_ros.engine.parameters import NodeParams
from tips_ros.engine.prediction import Prediction
from tips_ros.io import outputs
from tips_ros.io.camera_info import CameraModel
from tips_ros.io.detections import find_detections
from tips_ros.ros import messages, vision
from tips_ros.ros.diagnostics import LOG_THROTTLE_S
from tips_ros.ros.qos import latched_qos, stream_qos

#: message type of each kind of output topic (the vision_msgs ones where it imports)
MESSAGE_TYPES: dict[str, Any] = {
    outputs.IMAGE: Image, outputs.CAMERA_INFO: CameraInfo, outputs.POINTS: PointCloud2,
    outputs.JSON: String}
if not vision.MISSING:
    MESSAGE_TYPES.update({outputs.LABEL_INFO: vision.LabelInfo,
                          outputs.DETECTIONS_2D: vision.Detection2DArray,
                          outputs.DETECTIONS_3D: vision.Detection3DArray})


class CameraOutputs:
    """The output publishers of the camera with topic prefix ``prefix`` (``""``, ``"front/"``)."""

    def __init__(self, node: LifecycleNode, prefix: str, reliability: str) -> None:
        """Create every output publisher; ``reliability`` is ``reliable`` or ``best_effort``."""
        self._node = node
        self.prefix = prefix
        qos = stream_qos(reliability)
        events = PublisherEventCallbacks(incompatible_qos=self._on_incompatible)
        make = node.create_lifecycle_publisher
        self.publishers: dict[str, Any] = {
            name: make(MESSAGE_TYPES[topic.kind], prefix + name, latched_qos())
            if topic.latched else
            make(MESSAGE_TYPES[topic.kind], prefix + name, qos, event_callbacks=events)
            for name, topic in outputs.TOPICS.items() if topic.kind in MESSAGE_TYPES}

    def destroy(self) -> None:
        """Destroy every publisher of this camera."""
        for publisher in self.publishers.values():
            self._node.destroy_lifecycle_publisher(publisher)
        self.publishers = {}

    def wanted(self, compute_all: bool, publish_points: bool, info_known: bool) -> set[str]:
        """Return the per-frame topics to publish: those with subscribers, or all (compute_all).

        ``points`` also needs ``publish_points``, and it, ``depth/camera_info`` and
        ``detections_3d`` need the camera's accepted ``camera_info`` (``info_known``).
        """
        wanted = {name for name, pub in self.publishers.items()
                  if not outputs.TOPICS[name].latched
                  if compute_all or pub.get_subscription_count() > 0}
        if not publish_points:
            wanted.discard(outputs.POINTS_TOPIC)
        return wanted if info_known else wanted - outputs.GEOMETRY_TOPICS

    def publish_frame(self, header: Header, rgb: np.ndarray, pred: Prediction, topics: set[str],
                      model: CameraModel | None, params: NodeParams) -> dict[str, int]:
        """Publish the ``topics`` of one frame with the input ``header``.

        ``rgb`` is the decoded input image (``HxWx3`` uint8, colours of ``points``); ``model``
        the camera's checked calibration scaled to the image (``depth/camera_info``,
        intrinsics of ``points`` and ``detections_3d``, in metres in the optical frame),
        None if it has none; ``params``: ``points_organized``, ``detection_threshold``.
        Returns the serialised bytes published per topic, for the images and ``points``.
        """
        sizes = {}
        for topic, encoded in outputs.encode_prediction(pred, topics).items():
            data = messages.image_bytes(header, encoded)
            self.publishers[topic].publish(data)
            sizes[topic] = len(data)
        if topics & {outputs.DETECTIONS_TOPIC, outputs.DETECTIONS_3D_TOPIC}:
            self._publish_detections(header, pred, topics, model, params.detection_threshold)
        if model is None:
            return sizes
        if outputs.CAMERA_INFO_TOPIC in topics:
            self.publishers[outputs.CAMERA_INFO_TOPIC].publish(
                messages.camera_info_msg(header, model))
        if outputs.POINTS_TOPIC in topics and pred.depth is not None:
            cloud = outputs.point_cloud(pred.depth, model.k, rgb, pred.class_ids,
                                        params.points_organized)
            data = messages.point_cloud_bytes(header, cloud)
            self.publishers[outputs.POINTS_TOPIC].publish(data)
            sizes[outputs.POINTS_TOPIC] = len(data)
        return sizes

    def _publish_detections(self, header: Header, pred: Prediction, topics: set[str],
                            model: CameraModel | None, threshold: float) -> None:
        """Publish one frame's detection arrays, also when empty (3D only with ``model``).

        Both arrays come from one extraction on the frame's heatmaps (and depth).
        """
        with_3d = model is not None and outputs.DETECTIONS_3D_TOPIC in topics
        found = [] if pred.heatmaps is None else find_detections(
            pred.heatmaps, pred.queries, threshold, pred.depth if with_3d else None,
            model.k if with_3d else None)
        if outputs.DETECTIONS_TOPIC in topics:
            self.publishers[outputs.DETECTIONS_TOPIC].publish(
                vision.detections_2d_msg(header, found))
        if with_3d:
            self.publishers[outputs.DETECTIONS_3D_TOPIC].publish(
                vision.detections_3d_msg(header, found))

    def publish_latched(self, source: str, values: Sequence[str]) -> None:
        """Publish every latched topic built from ``source`` (``FROM_CLASS_NAMES``, ...).

        The class map of ``segmentation`` (JSON and ``LabelInfo``), or the query list
        (heatmap channel order) and the zero-shot labels.
        """
        for name, topic in outputs.TOPICS.items():
            if topic.latched and topic.source == source and name in self.publishers:
                message = (vision.label_info_msg(values) if topic.kind == outputs.LABEL_INFO
                           else messages.string_msg(topic.payload(values)))
                self.publishers[name].publish(message)

    def _on_incompatible(self, event: Any) -> None:
        self._node.get_logger().warning(
            f"a subscriber requests QoS this node's outputs do not offer (policy "
            f"{event.last_policy_kind}): make the subscriber best effort, or set "
            "output_reliability to match it", throttle_duration_sec=LOG_THROTTLE_S)
