# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``depth/camera_info``: the input camera's calibration for the depth image (no ROS imports).

One builder for the node (rclpy messages) and ``tips-ros replay`` (rosbags messages), so a
replayed bag holds exactly what the node publishes, also for rectified and stereo cameras.
A camera_info is checked (:func:`depth_camera_info`) before anything is built from it, once
per change of the calibration or of the image (:class:`Calibration`); a rejected one gives no
``depth/camera_info`` and no points (:class:`CameraInfoError` says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tips_ros.errors import TipsError
from tips_ros.io.outputs import scale_intrinsics

#: most distortion coefficients of each ``distortion_model`` (an empty D is always accepted:
#: no distortion); other models may have up to :data:`MAX_DISTORTION` (OpenCV's largest model)
DISTORTION_SIZES = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}
MAX_DISTORTION = 14
#: a calibration size more than this factor away from the image (either way) is implausible
MAX_SCALE = 16.0
#: largest relative difference of the calibration's and the image's aspect ratio
ASPECT_TOLERANCE = 0.01
#: the smallest focal length, as a fraction of the image width (a field of view under 180 deg)
MIN_FOCAL_FRACTION = 1e-3


class CameraInfoError(ValueError, TipsError):
    """A camera_info that is not used: ``reason`` is a stable key, ``str()`` one sentence.

    Reasons: ``uncalibrated`` (zero focal lengths), ``non_finite``, ``focal_length``,
    ``calibration_size``, ``principal_point``, ``distortion``, ``frame_id``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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


def _matrix(values: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    """Return ``values`` as a finite float64 array of ``shape``, or raise CameraInfoError."""
    array = np.asarray(values, dtype=np.float64)
    if array.size != shape[0] * shape[1]:
        raise CameraInfoError("non_finite", f"{name} has {array.size} entries, not "
                                            f"{shape[0] * shape[1]}")
    if not np.isfinite(array).all():
        raise CameraInfoError("non_finite", f"{name} holds a NaN or infinite value")
    return array.reshape(shape).copy()


def _distortion(model: str, d: Any) -> tuple[float, ...]:
    """Return the coefficients ``d`` of ``model`` if their count fits it and they are finite."""
    most = DISTORTION_SIZES.get(model, MAX_DISTORTION)
    if len(d) > most:
        raise CameraInfoError("distortion", f"D has {len(d)} coefficients; distortion model "
                                            f"'{model}' has at most {most}")
    coefficients = tuple(float(v) for v in d)
    if not np.isfinite(coefficients).all():
        raise CameraInfoError("non_finite", "D holds a NaN or infinite value")
    return coefficients


def _calibration_size(info: Any, width: int, height: int) -> tuple[int, int]:
    """Return the calibration size of ``info``: the image's if unset, else a plausible one.

    Plausible: the image's aspect ratio (within :data:`ASPECT_TOLERANCE`) and at most
    :data:`MAX_SCALE` times larger or smaller, so that scaling K to the image is meaningful.
    """
    source = (int(info.width), int(info.height))
    if source == (0, 0):
        return width, height
    if min(source) <= 0:
        raise CameraInfoError("calibration_size",
                              f"calibration size {source[0]}x{source[1]} has a zero side")
    scale = width / source[0]
    aspect_off = abs(source[0] * height / (source[1] * width) - 1.0)
    if aspect_off > ASPECT_TOLERANCE or not 1 / MAX_SCALE <= scale <= MAX_SCALE:
        raise CameraInfoError(
            "calibration_size", f"calibration size {source[0]}x{source[1]} does not fit the "
                                f"{width}x{height} image (another aspect ratio, or scaled by "
                                f"more than {MAX_SCALE:g}x)")
    return source


def _check_k(k: np.ndarray, source: tuple[int, int]) -> None:
    """Raise CameraInfoError unless K has positive focal lengths and its centre in the image."""
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if fx == 0 and fy == 0:
        raise CameraInfoError("uncalibrated", "the camera is uncalibrated (zero focal length)")
    smallest = MIN_FOCAL_FRACTION * max(source)
    if min(fx, fy) < smallest:
        raise CameraInfoError("focal_length", f"focal lengths fx={fx:g}, fy={fy:g} must be at "
                                              f"least {smallest:g} pixels")
    if not (-0.5 <= cx <= source[0] - 0.5 and -0.5 <= cy <= source[1] - 0.5):
        raise CameraInfoError("principal_point", f"principal point ({cx:g}, {cy:g}) lies "
                                                 f"outside the {source[0]}x{source[1]} image")


def depth_camera_info(info: Any, width: int, height: int, frame_id: str | None = None,
                      image_size: tuple[int, int] | None = None) -> CameraModel:
    """Return the CameraInfo ``info`` (rclpy or rosbags message) for a ``width x height`` image.

    ``image_size`` (``(width, height)``, default the same) is the camera image's own size, the
    one the calibration is checked against; the outputs (``output_size``) may have another
    size, even another aspect ratio, and K and P are scaled to ``width x height``.

    ``info`` is checked first (raises :class:`CameraInfoError`): K, R, P and D finite, positive
    focal lengths, the principal point in the image, D no longer than its distortion model
    allows, a calibration size that fits the image (unset, i.e. 0x0, means the image size;
    another resolution with the image's aspect ratio is scaled), and, if ``frame_id`` (the
    image's) and the camera_info's frame id are both set, the same frame id.

    K and P are rescaled from the calibration size to ``width x height``: focal lengths, skew
    and principal points as :func:`~tips_ros.io.outputs.scale_intrinsics` does, and P's Tx, Ty
    (which scale with the focal lengths: ``Tx = -fx' * baseline``). R, D and the distortion
    model are kept. An unset P (all zero) becomes ``[K | 0]``.
    """
    info_frame = str(getattr(getattr(info, "header", None), "frame_id", "") or "")
    if frame_id and info_frame and info_frame != frame_id:
        raise CameraInfoError("frame_id", f"camera_info frame_id '{info_frame}' is not the "
                                          f"image's '{frame_id}' (another camera's calibration)")
    model = str(info.distortion_model)
    d = _distortion(model, info.d)  # first: a huge D is rejected before any copy of it
    k = _matrix(info.k, (3, 3), "K")
    r = _matrix(info.r, (3, 3), "R")
    p = _matrix(info.p, (3, 4), "P")
    source = _calibration_size(info, *(image_size or (width, height)))
    _check_k(k, source)
    k_scaled = scale_intrinsics(k, source, (width, height))
    if not p.any():
        p[:, :3] = k
    p[:, :3] = scale_intrinsics(p[:, :3], source, (width, height))
    p[0, 3] *= width / source[0]
    p[1, 3] *= height / source[1]
    return CameraModel(width, height, model, d, k_scaled, r, p)


def _info_key(info: Any) -> tuple:
    """Return what identifies the calibration of ``info`` (a D too long to use by its length).

    Arrays as bytes, so that a NaN compares equal to itself: an unchanged bad calibration is
    checked (and reported) once.
    """
    d = info.d if len(info.d) <= MAX_DISTORTION else ()
    frame = getattr(getattr(info, "header", None), "frame_id", "")
    arrays = (np.asarray(values, dtype=np.float64).tobytes()
              for values in (d, info.k, info.r, info.p))
    return (frame, int(info.width), int(info.height), str(info.distortion_model),
            len(info.d), *arrays)


class Calibration:
    """The newest camera_info of one camera, checked once per change of it or of the image.

    :meth:`update` takes each camera_info message (cheap: a repeated, unchanged calibration
    keeps the previous check); :meth:`model` returns the check's result for an image. One
    thread may call :meth:`update` while another calls :meth:`model`.
    """

    def __init__(self) -> None:
        self._latest: tuple[Any, tuple] | None = None  # (message, key), replaced at once
        self._checked: tuple | None = None  # (info key, width, height, frame_id) of result
        self._result: CameraModel | CameraInfoError | None = None

    @property
    def known(self) -> bool:
        """Whether a camera_info has arrived (valid or not)."""
        return self._latest is not None

    def update(self, info: Any) -> None:
        """Take a new camera_info message (rclpy or rosbags)."""
        self._latest = (info, _info_key(info))

    def model(self, width: int, height: int, frame_id: str,
              image_size: tuple[int, int] | None = None,
              ) -> tuple[CameraModel | None, CameraInfoError | None, bool]:
        """Return ``(model, error, changed)`` for a ``width x height`` image in ``frame_id``.

        ``image_size``: the camera image's ``(width, height)`` when the outputs have another
        size (see :func:`depth_camera_info`).

        ``model`` is None without a camera_info or when it is rejected (``error`` says why);
        ``changed`` is whether this is the first check of this calibration for such an image.
        """
        latest = self._latest
        if latest is None:
            return None, None, False
        info, info_key = latest
        key = (info_key, width, height, frame_id, image_size)
        changed = key != self._checked
        if changed:
            try:
                self._result = depth_camera_info(info, width, height, frame_id, image_size)
            except CameraInfoError as err:
                self._result = err
            self._checked = key
        if isinstance(self._result, CameraInfoError):
            return None, self._result, changed
        return self._result, None, changed
