# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Tests for tips_ros.io.cdr against two independent CDR implementations.

The serialised Image and PointCloud2 the node publishes and replay writes are compared with
rosbags (byte for byte) and rclpy / Fast DDS (field for field).
"""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header

from tips_ros.io.cdr import serialize_image, serialize_point_cloud
from tips_ros.io.imaging import encode_image
from tips_ros.io.outputs import CLOUD_DTYPE, CLOUD_FIELDS, point_cloud

TYPESTORE = get_typestore(Stores.ROS2_KILTED)
# Every alignment case: frame_id lengths 0..4 (and a non-ASCII one) x pixel byte counts that
# are and are not multiples of 4, for each dtype the node writes.
FRAME_IDS = ["", "a", "ab", "abc", "abcd", "caméra_optical_frame"]
ARRAYS = {
    "mono8": np.arange(15, dtype=np.uint8).reshape(3, 5),
    "rgb8": np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3),
    "16UC1": np.array([[0, 1500, 65535]], np.uint16),
    "32FC1": np.array([[np.nan, 0.5], [2.0, 1e30]], np.float32),
    "32FC7": np.linspace(-1, 1, 4 * 3 * 7, dtype=np.float32).reshape(4, 3, 7),
}


def rosbags_bytes(
    sec: int, nanosec: int, frame_id: str, encoding: str, array: np.ndarray
) -> bytes:
    types = TYPESTORE.types
    encoded = encode_image(array, encoding)
    little_endian = array.astype(array.dtype.newbyteorder("<")).tobytes()
    msg = types["sensor_msgs/msg/Image"](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
            frame_id=frame_id),
        height=encoded.height, width=encoded.width, encoding=encoding, is_bigendian=0,
        step=encoded.step, data=np.frombuffer(little_endian, np.uint8))
    return bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image"))


@pytest.mark.parametrize("frame_id", FRAME_IDS)
@pytest.mark.parametrize("encoding", list(ARRAYS))
def test_identical_to_rosbags_serializer(frame_id: str, encoding: str) -> None:
    array = ARRAYS[encoding]
    ours = serialize_image(-7, 999_999_999, frame_id, encode_image(array, encoding))
    assert ours == rosbags_bytes(-7, 999_999_999, frame_id, encoding, array)


@pytest.mark.parametrize("frame_id", FRAME_IDS)
@pytest.mark.parametrize("encoding", list(ARRAYS))
def test_rclpy_reads_what_it_would_have_sent(frame_id: str, encoding: str) -> None:
    array = ARRAYS[encoding]
    encoded = encode_image(array, encoding)
    ours = serialize_image(1_700_000_000, 42, frame_id, encoded)
    expected = Image(header=Header(frame_id=frame_id), height=encoded.height,
                     width=encoded.width, encoding=encoding, is_bigendian=0, step=encoded.step,
                     data=encoded.data.tobytes())
    expected.header.stamp.sec, expected.header.stamp.nanosec = 1_700_000_000, 42
    assert deserialize_message(ours, Image) == expected
    # Same size as Fast DDS's own serialisation (its padding bytes are not zeroed, so only
    # the length is comparable byte-wise).
    assert len(serialize_message(expected)) == len(ours)


def test_pixels_round_trip_exactly() -> None:
    array = ARRAYS["32FC7"]
    msg = deserialize_message(serialize_image(0, 0, "f", encode_image(array, "32FC7")), Image)
    decoded = np.frombuffer(bytes(msg.data), "<f4").reshape(msg.height, msg.width, 7)
    assert msg.step == 3 * 7 * 4
    np.testing.assert_array_equal(decoded, array)


def test_encoded_image_is_a_view_of_the_array() -> None:
    """encode_image does not copy a contiguous little-endian array (the one copy is the CDR)."""
    array = np.zeros((4, 5), np.float32)
    encoded = encode_image(array, "32FC1")
    array[0, 0] = 3.0
    assert np.frombuffer(encoded.data, "<f4")[0] == 3.0


@pytest.mark.parametrize("frame_id", FRAME_IDS)
@pytest.mark.parametrize("points", [0, 1, 7, 12])
@pytest.mark.parametrize("organized", [False, True])
def test_point_cloud_identical_to_rosbags_serializer(frame_id: str, points: int,
                                                     organized: bool) -> None:
    depth = np.full((3, 4), np.nan, np.float32)
    depth.reshape(-1)[:points] = np.linspace(0.5, 9.0, points)
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)
    k = np.array([[2.0, 0, 1.5], [0, 2.0, 1.0], [0, 0, 1]])
    cloud = point_cloud(depth, k, rgb, labels, organized)
    height, width = (3, 4) if organized else (1, points)
    dense = points == 12 or not organized
    types = TYPESTORE.types
    field = types["sensor_msgs/msg/PointField"]
    reference = types["sensor_msgs/msg/PointCloud2"](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=3, nanosec=4), frame_id=frame_id),
        height=height, width=width,
        fields=[field(name=n, offset=o, datatype=d, count=c) for n, o, d, c in CLOUD_FIELDS],
        is_bigendian=False, point_step=CLOUD_DTYPE.itemsize,
        row_step=CLOUD_DTYPE.itemsize * width,
        data=np.frombuffer(cloud.data.tobytes(), np.uint8), is_dense=dense)
    ours = serialize_point_cloud(3, 4, frame_id, cloud.fields, cloud.point_step, cloud.data,
                                 cloud.dense, cloud.height)
    assert ours == bytes(TYPESTORE.serialize_cdr(reference, "sensor_msgs/msg/PointCloud2"))
    msg = deserialize_message(ours, PointCloud2)
    summary = (msg.height, msg.width, msg.row_step, msg.is_dense, len(msg.fields))
    assert summary == (height, width, 20 * width, dense, 5)
    assert bytes(msg.data) == cloud.data.tobytes()  # NaN points too


def test_point_cloud_is_dense_only_when_every_point_is_finite() -> None:
    """A K that makes non-finite points (never one the node accepts) gives is_dense false."""
    depth = np.ones((3, 4), np.float32)
    good = point_cloud(depth, np.array([[2.0, 0, 1.5], [0, 2.0, 1.0], [0, 0, 1]]))
    bad = point_cloud(depth, np.array([[np.nan, 0, 1.5], [0, 2.0, 1.0], [0, 0, 1]]))
    for cloud, dense in ((good, True), (bad, False)):
        assert cloud.dense is dense
        raw = serialize_point_cloud(0, 0, "f", cloud.fields, cloud.point_step, cloud.data,
                                    cloud.dense)
        assert deserialize_message(raw, PointCloud2).is_dense is dense
