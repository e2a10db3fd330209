"""Conversions between ROS image messages and numpy arrays (no ROS imports).

Messages are duck-typed: anything with the ``sensor_msgs/Image`` fields (``height``,
``width``, ``encoding``, ``is_bigendian``, ``step``, ``data``) works, so rclpy messages and
``rosbags`` dataclasses go through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: numpy dtype and channel count of each encoding this module can write.
OUTPUT_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "32FC3": (np.dtype(np.float32), 3),
}


class ImageDecodeError(ValueError):
    """An image message that cannot be turned into an array.

    ``reason`` is a short stable key (``unknown_encoding``, ``bad_dimensions``, ...) used to
    count rejections in diagnostics and reports; ``str(error)`` is one sentence for humans.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class EncodedImage:
    """The data fields of a ``sensor_msgs/Image``, ready to copy into any message class."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes


def encode_image(array: np.ndarray, encoding: str) -> EncodedImage:
    """Pack an ``HxW`` or ``HxWxC`` array as image fields with the given encoding.

    ``32FC<N>`` encodings take any channel count ``N`` (e.g. one heatmap channel per text
    query). Data is little-endian, rows are packed (``step = width * bytes per pixel``), and
    ``data`` is ``bytes`` because assigning bytes to rclpy message fields is the fast path.
    """
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"expected an HxW or HxWxC array, got shape {array.shape}")
    height, width, channels = array.shape
    if encoding.startswith("32FC") and encoding[4:].isdigit():
        dtype, expected = np.dtype(np.float32), int(encoding[4:])
    elif encoding in OUTPUT_ENCODINGS:
        dtype, expected = OUTPUT_ENCODINGS[encoding]
    else:
        raise ValueError(f"cannot write encoding {encoding!r}")
    if channels != expected:
        raise ValueError(f"encoding {encoding} needs {expected} channels, array has {channels}")
    data = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<"))
    return EncodedImage(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels * dtype.itemsize,
        data=data.tobytes(),
    )
