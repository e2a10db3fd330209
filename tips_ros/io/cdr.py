# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The node's large messages serialised to CDR directly from numpy (no ROS imports).

The node publishes its ``sensor_msgs/Image`` and ``sensor_msgs/PointCloud2`` outputs as
serialised bytes (rclpy ``Publisher.publish(bytes)``) and ``tips-ros replay`` writes the same
bytes into bags. Building the CDR buffer from the array in one copy skips the rclpy message
object, its ``array.array`` copy of the payload and the middleware's serialisation copy: for
the seven 640x480 image outputs (about 13 MB per frame) two full copies fewer per frame.

Layout (plain CDR, little endian, as rosbags and every ROS 2 middleware read it): the
encapsulation header ``00 01 00 00``, then the fields in declaration order, each primitive
aligned to its size counted from the end of the encapsulation header; a string is a
``uint32`` length including the terminating NUL, the UTF-8 bytes and the NUL; a sequence is
a ``uint32`` count and its elements; ``bool`` is one byte.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from tips_ros.io.imaging import EncodedImage

#: Plain CDR, little-endian (the only representation written here).
ENCAPSULATION_CDR_LE = b"\x00\x01\x00\x00"


class _Writer:
    """Appends aligned little-endian CDR primitives after the encapsulation header."""

    def __init__(self) -> None:
        self.buffer = bytearray(ENCAPSULATION_CDR_LE)

    def _align(self, size: int) -> None:
        self.buffer += b"\x00" * (-(len(self.buffer) - len(ENCAPSULATION_CDR_LE)) % size)

    def u8(self, value: int) -> None:
        self.buffer += struct.pack("<B", value)

    def u32(self, value: int) -> None:
        self._align(4)
        self.buffer += struct.pack("<I", value)

    def i32(self, value: int) -> None:
        self._align(4)
        self.buffer += struct.pack("<i", value)

    def string(self, text: str) -> None:
        data = text.encode("utf-8") + b"\x00"
        self.u32(len(data))
        self.buffer += data

    def header(self, sec: int, nanosec: int, frame_id: str) -> None:
        """``std_msgs/Header``: ``builtin_interfaces/Time`` stamp, frame_id."""
        self.i32(sec)
        self.u32(nanosec)
        self.string(frame_id)

    def finish(self, payload: np.ndarray, tail: bytes = b"") -> tuple[bytes, memoryview, bytes]:
        """Return the message's parts: the fields written so far, ``payload`` and ``tail``.

        ``payload``'s raw bytes become a ``uint8[]`` field (a view, not a copy) and ``tail``
        holds the unaligned fields after it; joined, they are the message.
        """
        self.u32(payload.nbytes)
        return bytes(self.buffer), memoryview(np.ascontiguousarray(payload)).cast("B"), tail


def serialize_image(sec: int, nanosec: int, frame_id: str, image: EncodedImage) -> bytes:
    """``sensor_msgs/Image`` as CDR bytes.

    ``sec``/``nanosec`` and ``frame_id`` are the ``std_msgs/Header`` fields (the callers keep
    the input frame's); the pixel bytes of ``image`` are copied once, into the result.
    """
    return b"".join(image_parts(sec, nanosec, frame_id, image))


def image_parts(sec: int, nanosec: int, frame_id: str,
                image: EncodedImage) -> tuple[bytes, memoryview, bytes]:
    """``sensor_msgs/Image`` as CDR in parts that, joined, are :func:`serialize_image`'s bytes.

    The header and fields, a view of the pixel bytes (no copy), and nothing after them.
    """
    out = _Writer()
    out.header(sec, nanosec, frame_id)
    out.u32(image.height)
    out.u32(image.width)
    out.string(image.encoding)
    out.u8(image.is_bigendian)
    out.u32(image.step)
    return out.finish(image.data)


def serialize_point_cloud(sec: int, nanosec: int, frame_id: str,
                          fields: Sequence[tuple[str, int, int, int]], point_step: int,
                          points: np.ndarray, dense: bool, height: int = 1) -> bytes:
    """Serialise a little-endian ``sensor_msgs/PointCloud2`` to CDR bytes.

    ``fields`` are ``(name, offset, datatype, count)`` ``PointField`` entries; ``points`` is
    the packed point array (``point_step`` bytes per point, row-major), copied once into the
    result; ``dense`` is ``is_dense`` (every point finite); ``height`` rows of
    ``len(points) / height`` points (1: unorganised).
    """
    return b"".join(point_cloud_parts(sec, nanosec, frame_id, fields, point_step, points, dense,
                                      height))


def point_cloud_parts(sec: int, nanosec: int, frame_id: str,
                      fields: Sequence[tuple[str, int, int, int]], point_step: int,
                      points: np.ndarray, dense: bool,
                      height: int = 1) -> tuple[bytes, memoryview, bytes]:
    """:func:`serialize_point_cloud`'s bytes in parts: fields, a view of the points, tail."""
    width = points.nbytes // point_step // height
    out = _Writer()
    out.header(sec, nanosec, frame_id)
    out.u32(height)
    out.u32(width)
    out.u32(len(fields))
    for name, offset, datatype, field_count in fields:
        out.string(name)
        out.u32(offset)
        out.u8(datatype)
        out.u32(field_count)
    out.u8(0)  # is_bigendian
    out.u32(point_step)
    out.u32(point_step * width)  # row_step
    return out.finish(points, tail=b"\x01" if dense else b"\x00")  # is_dense
