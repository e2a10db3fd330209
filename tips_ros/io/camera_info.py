# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``depth/camera_info``: the input camera's calibration for the depth image (no ROS imports).

One builder for the node (rclpy messages) and ``tips-ros replay`` (rosbags messages), so a
replayed bag holds exactly what the node publishes, also for rectified and stereo cameras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tips_ros.io.outputs import scale_intrinsics


@dataclass(frozen=True)
class CameraModel:
    """The calibration fields of a ``sensor_msgs/CameraInfo``.

    Units are pixels; ROS convention: integer coordinates are pixel centres.
    """

    width: int
    height: int
    distortion_model: str
    d: tuple[float, ...]
    k: np.ndarray  # (3, 3) float64 intrinsic matrix of the (distorted) image
    r: np.ndarray  # (3, 3) float64 rectification rotation
    p: np.ndarray  # (3, 4) float64 projection matrix of the rectified image


def depth_camera_info(info: Any, width: int, height: int) -> CameraModel | None:
    """Return the CameraInfo ``info`` (rclpy or rosbags message) for a ``width x height`` image.

    K and P are rescaled from the calibration size (``info.width x info.height``; 0, i.e.
    unset, means the image size) to ``width x height``: focal lengths, skew and principal
    points as :func:`~tips_ros.io.outputs.scale_intrinsics` does, and P's Tx, Ty (which scale
    with the focal lengths: ``Tx = -fx' * baseline``). R, D and the distortion model are kept.
    An unset P (all zero) becomes ``[K | 0]``. Returns None for an uncalibrated camera (a
    zero focal length in K): it has no camera info and no point cloud.
    """
    k = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
    if k[0, 0] == 0 or k[1, 1] == 0:
        return None
    source = (int(info.width) or width, int(info.height) or height)
    k_scaled = scale_intrinsics(k, source, (width, height))
    p = np.asarray(info.p, dtype=np.float64).reshape(3, 4).copy()
    if not p.any():
        p[:, :3] = k
    p[:, :3] = scale_intrinsics(p[:, :3], source, (width, height))
    p[0, 3] *= width / source[0]
    p[1, 3] *= height / source[1]
    return CameraModel(width, height, str(info.distortion_model),
                       tuple(float(v) for v in info.d), k_scaled,
                       np.asarray(info.r, dtype=np.float64).reshape(3, 3).copy(), p)
