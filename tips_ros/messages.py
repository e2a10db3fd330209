"""rclpy message builders for the node's outputs, filled from ``tips_ros.outputs`` payloads.

Images and point clouds go out serialised (:func:`image_bytes`, :func:`point_cloud_bytes`,
published with ``Publisher.publish(bytes)``): one copy of the payload instead of an rclpy
message object, its ``array.array`` copy and the middleware's serialisation copy (see
:mod:`tips_ros.cdr`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header, String

from tips_ros.cdr import serialize_image, serialize_point_cloud
from tips_ros.diagnostics import Status
from tips_ros.imaging import EncodedImage
from tips_ros.outputs import PointCloud


def image_bytes(header: Header, encoded: EncodedImage) -> bytes:
    """A serialised ``sensor_msgs/Image`` with ``header`` (stamp and frame_id kept from the input)."""
    return serialize_image(header.stamp.sec, header.stamp.nanosec, header.frame_id, encoded)


def camera_info_msg(source: CameraInfo, header: Header, k: np.ndarray, width: int, height: int) -> CameraInfo:
    """``depth/camera_info``: the input CameraInfo rescaled to the depth image size.

    ``k`` is the scaled 3x3 intrinsic matrix; P gets the same focal lengths and principal
    point (the translation column scales with fx), distortion is copied.
    """
    msg = CameraInfo()
    msg.header = header
    msg.width, msg.height = width, height
    msg.distortion_model = source.distortion_model
    msg.d = list(source.d)
    msg.k = [float(v) for v in np.asarray(k).reshape(9)]
    msg.r = list(source.r)
    p = np.asarray(source.p, dtype=np.float64).reshape(3, 4).copy()
    if p[0, 0] != 0 and source.k[0] != 0:
        sx, sy = k[0, 0] / source.k[0], k[1, 1] / source.k[4]
        p[0, :] *= sx
        p[1, :] *= sy
        p[0, 2], p[1, 2] = k[0, 2], k[1, 2]
    else:
        p[:, :3] = k
    msg.p = [float(v) for v in p.reshape(12)]
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
