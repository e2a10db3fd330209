# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""rclpy message builders for the node's outputs, filled from ``tips_ros.io.outputs`` payloads.

Images and point clouds go out serialised (:func:`image_bytes`, :func:`point_cloud_bytes`,
published with ``Publisher.publish(bytes)``): one copy of the payload instead of an rclpy
message object, its ``array.array`` copy and the middleware's serialisation copy (see
:mod:`tips_ros.io.cdr`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header, String

from tips_ros.io.cdr import serialize_image, serialize_point_cloud
from tips_ros.ros.diagnostics import Status

if TYPE_CHECKING:
    from tips_ros.io.camera_info import CameraModel
    from tips_ros.io.imaging import EncodedImage
    from tips_ros.io.outputs import PointCloud


def image_bytes(header: Header, encoded: EncodedImage) -> bytes:
    """A serialised ``sensor_msgs/Image`` with ``header`` (stamp and frame_id kept from the input)."""
    return serialize_image(header.stamp.sec, header.stamp.nanosec, header.frame_id, encoded)


def camera_info_msg(header: Header, model: CameraModel) -> CameraInfo:
    """``depth/camera_info`` with ``header``; ``model`` from
    :func:`tips_ros.io.camera_info.depth_camera_info`."""
    msg = CameraInfo()
    msg.header = header
    msg.width, msg.height = model.width, model.height
    msg.distortion_model = model.distortion_model
    msg.d = list(model.d)
    msg.k = [float(v) for v in model.k.reshape(9)]
    msg.r = [float(v) for v in model.r.reshape(9)]
    msg.p = [float(v) for v in model.p.reshape(12)]
    return msg


def point_cloud_bytes(header: Header, cloud: PointCloud) -> bytes:
    """A serialised unorganised ``sensor_msgs/PointCloud2`` (height 1) in the input's optical frame."""
    return serialize_point_cloud(header.stamp.sec, header.stamp.nanosec, header.frame_id,
                                 cloud.fields, cloud.point_step, cloud.data)


def string_msg(text: str) -> String:
    return String(data=text)


def diagnostics_msg(stamp, node_name: str, statuses: Sequence[Status]) -> DiagnosticArray:
    """A ``DiagnosticArray`` with one status per entry, named ``<node>: <status name>``."""
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    for status in statuses:
        item = DiagnosticStatus()
        item.level = bytes([status.level])
        item.name = f"{node_name}: {status.name}"
        item.message = status.message
        item.hardware_id = node_name
        item.values = [KeyValue(key=k, value=v) for k, v in status.values.items()]
        msg.status.append(item)
    return msg
