# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""rclpy messages of the node: output builders, and the raw reader of the ``queries`` topic.

Outputs are filled from ``tips_ros.io.outputs`` payloads. Images and point clouds go out
serialised (:func:`image_bytes`, :func:`point_cloud_bytes`, published with
``Publisher.publish(bytes)``): one copy of the payload instead of an rclpy message object,
its ``array.array`` copy and the middleware's serialisation copy (see :mod:`tips_ros.io.cdr`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header, String

from tips_ros.engine.queries import QueryError
from tips_ros.io.cdr import serialize_image, serialize_point_cloud
from tips_ros.ros.diagnostics import Status

if TYPE_CHECKING:
    from tips_ros.io.camera_info import CameraModel
    from tips_ros.io.imaging import EncodedImage
    from tips_ros.io.outputs import PointCloud


def image_bytes(header: Header, encoded: EncodedImage) -> bytes:
    """Serialise ``encoded`` as a ``sensor_msgs/Image`` with the input's ``header``."""
    return serialize_image(header.stamp.sec, header.stamp.nanosec, header.frame_id, encoded)


def camera_info_msg(header: Header, model: CameraModel) -> CameraInfo:
    """Build ``depth/camera_info`` with the input's ``header``.

    ``model`` comes from :func:`tips_ros.io.camera_info.depth_camera_info` (pixels).
    """
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
    """Serialise ``cloud`` as a ``PointCloud2`` with the input's ``header``.

    Points are in metres in the optical frame ``header.frame_id``; organised or not as
    ``cloud`` is (:class:`tips_ros.io.outputs.PointCloud`).
    """
    return serialize_point_cloud(header.stamp.sec, header.stamp.nanosec, header.frame_id,
                                 cloud.fields, cloud.point_step, cloud.data, cloud.dense,
                                 cloud.height)


def string_msg(text: str) -> String:
    return String(data=text)


def string_payload(raw: bytes) -> bytes:
    """Return the UTF-8 bytes of a serialized ``std_msgs/String`` (CDR) without decoding them.

    Read by hand so that a non-UTF-8 payload becomes a counted rejection instead of an
    exception inside rclpy's deserializer. Layout: 4-byte encapsulation header, uint32 length
    (including the terminating NUL), bytes.
    """
    if len(raw) < 8:
        raise QueryError("malformed_message", "the queries message is too short to be a String")
    order = "little" if raw[1] == 1 else "big"
    length = int.from_bytes(raw[4:8], order)
    if length < 1 or 8 + length > len(raw):
        raise QueryError("malformed_message", "the queries message has an invalid string length")
    return raw[8:8 + length - 1]


def diagnostics_msg(stamp, node_name: str, statuses: Sequence[Status]) -> DiagnosticArray:
    """Build a ``DiagnosticArray`` with one status per entry, named ``<node>: <status name>``."""
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
