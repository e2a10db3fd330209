# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What each output topic carries, built from an engine Prediction (no ROS imports).

The node (rclpy messages) and ``tips-ros replay`` (rosbags messages) both fill their
messages from these values, so a bag written by replay holds exactly what the node publishes.

Topic names are relative (see README "Topics"); encodings:

=====================  =============  ==================================================
topic                  encoding       content
=====================  =============  ==================================================
depth                  32FC1          metres along the optical axis, NaN = invalid
normals                32FC3          unit vectors, optical frame (x right, y down, z fwd)
normals/color          rgb8           (n + 1) / 2 * 255
segmentation           mono8/16UC1    class ids (16UC1 beyond 255 classes; 255 = UNLABELED)
segmentation/color     rgb8           class palette
segmentation/conf...   mono8          segmentation/confidence: winning class probability * 255
heatmaps               32FC<N>        channel i = similarity to query i
heatmaps/color         rgb8           strongest query tinted over the image
features               32FC<D>        patch grid (h x w = input/14), D channels per patch
features/pca           rgb8           first 3 principal components, slowly updated basis
embedding              32FC1          (1 + R) x D: row 0 CLS, rows 1.. register (2nd CLS)
zeroshot               mono8          best query id per pixel, 255 = none (< threshold)
zeroshot/color         rgb8           query colours half over the image
=====================  =============  ==================================================

The last five (:data:`FEATURE_TOPICS`, plus the latched ``zeroshot/labels``) are described in
``docs/features.md``; they are computed only when subscribed (or with ``compute_all``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from tips_ros.io.imaging import EncodedImage, encode_image

if TYPE_CHECKING:  # only annotations use it: the I/O layer needs nothing of the engine to run
    from tips_ros.engine.prediction import Prediction

#: image topic -> (Prediction attribute, engine head or view that produces it)
IMAGE_TOPICS: dict[str, tuple[str, str]] = {
    "depth": ("depth", "depth"),
    "normals": ("normals", "normals"),
    "normals/color": ("normals_color", "normals_color"),
    "segmentation": ("labels", "segmentation"),
    "segmentation/color": ("segmentation_color", "segmentation_color"),
    "segmentation/confidence": ("confidence", "segmentation_confidence"),
    "heatmaps": ("heatmaps", "heatmaps"),
    "heatmaps/color": ("heatmaps_color", "heatmaps_color"),
}
#: Dense features, global embeddings and zero-shot segmentation (docs/features.md).
FEATURE_TOPICS: dict[str, tuple[str, str]] = {
    "features": ("features", "features"),
    "features/pca": ("features_pca", "features_pca"),
    "embedding": ("embedding", "embedding"),
    "zeroshot": ("zeroshot", "zeroshot"),
    "zeroshot/color": ("zeroshot_color", "zeroshot_color"),
}
#: Every per-frame sensor_msgs/Image topic.
STREAM_TOPICS: dict[str, tuple[str, str]] = {**IMAGE_TOPICS, **FEATURE_TOPICS}
#: Latched (transient local) JSON topics.
LABELS_TOPIC = "segmentation/labels"
QUERIES_TOPIC = "heatmaps/queries"
CAMERA_INFO_TOPIC = "depth/camera_info"
POINTS_TOPIC = "points"
ZEROSHOT_LABELS_TOPIC = "zeroshot/labels"
#: vision_msgs outputs (the node publishes them when vision_msgs is importable): the label
#: map (latched LabelInfo) and the text-query detections (tips_ros.io.detections).
LABEL_INFO_TOPIC = "segmentation/label_info"
DETECTIONS_TOPIC = "detections"
DETECTIONS_3D_TOPIC = "detections_3d"
VISION_TOPICS: tuple[str, ...] = (LABEL_INFO_TOPIC, DETECTIONS_TOPIC, DETECTIONS_3D_TOPIC)
#: The core output topics (depth, normals, segmentation, heatmaps; relative names).
ALL_TOPICS: tuple[str, ...] = (
    *IMAGE_TOPICS, CAMERA_INFO_TOPIC, LABELS_TOPIC, QUERIES_TOPIC, POINTS_TOPIC,
)
#: The feature outputs (docs/features.md).
FEATURE_ALL_TOPICS: tuple[str, ...] = (*FEATURE_TOPICS, ZEROSHOT_LABELS_TOPIC)
#: Every output topic the node can publish.
EVERY_TOPIC: tuple[str, ...] = ALL_TOPICS + FEATURE_ALL_TOPICS + VISION_TOPICS


def heads_for(topics: Iterable[str]) -> set[str]:
    """Return the engine heads/views needed to publish ``topics`` (camera info needs none)."""
    heads = {STREAM_TOPICS[t][1] for t in topics if t in STREAM_TOPICS}
    if POINTS_TOPIC in topics:
        heads |= {"depth", "segmentation"}
    if DETECTIONS_TOPIC in topics:
        heads.add("heatmaps")
    if DETECTIONS_3D_TOPIC in topics:
        heads |= {"heatmaps", "depth"}
    return heads


def image_encoding(topic: str, array: np.ndarray) -> str:
    """Return the ROS encoding for ``array`` on image ``topic``."""
    if topic == "segmentation":
        return "mono8" if array.dtype == np.uint8 else "16UC1"
    if topic in ("zeroshot", "segmentation/confidence"):
        return "mono8"
    if array.dtype == np.uint8:
        return "rgb8"
    channels = 1 if array.ndim == 2 else array.shape[2]
    return f"32FC{channels}"


def encode_prediction(pred: Prediction, topics: Collection[str]) -> dict[str, EncodedImage]:
    """Encode the image fields of each requested image topic that ``pred`` has data for."""
    out = {}
    for topic in topics:
        if topic not in STREAM_TOPICS:
            continue
        array = getattr(pred, STREAM_TOPICS[topic][0])
        if array is not None:
            out[topic] = encode_image(array, image_encoding(topic, array))
    return out


def labels_json(labels: Sequence[str]) -> str:
    """``segmentation/labels`` payload: JSON object ``{"0": "wall", ...}``."""
    return json.dumps({str(i): name for i, name in enumerate(labels)})


def queries_json(queries: Sequence[str]) -> str:
    """``heatmaps/queries`` payload: JSON list of the queries in channel order."""
    return json.dumps(list(queries))


def zeroshot_labels_json(queries: Sequence[str]) -> str:
    """``zeroshot/labels`` payload: JSON object ``{"0": "chair", ...}`` of ``zeroshot`` ids.

    Ids follow the query order; id 255 (no query above the threshold) is not listed.
    """
    return json.dumps({str(i): query for i, query in enumerate(queries)})


def scale_intrinsics(
    k: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]
) -> np.ndarray:
    """Scale a 3x3 pinhole matrix from ``(width, height)`` to another image size.

    Pixel centres are integer coordinates (ROS/OpenCV convention), so principal points scale
    as ``(c + 0.5) * s - 0.5``.
    """
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    out = np.array(k, dtype=np.float64).reshape(3, 3).copy()
    out[0, 0] *= sx
    out[0, 1] *= sx
    out[1, 1] *= sy
    out[0, 2] = (out[0, 2] + 0.5) * sx - 0.5
    out[1, 2] = (out[1, 2] + 0.5) * sy - 0.5
    return out


# sensor_msgs/PointField datatypes
FLOAT32, UINT32 = 7, 6


@dataclass(frozen=True)
class PointCloud:
    """Fields of a ``sensor_msgs/PointCloud2``, little-endian, points in row-major pixel order.

    Organised (the default, as ``depth_image_proc``): ``height`` x ``width`` = the depth
    image's, one point per pixel, NaN ``x``/``y``/``z`` where the depth is invalid (not
    ``is_dense``), so point ``v * width + u`` is pixel ``(v, u)``. Unorganised: ``height`` 1,
    ``width`` = the number of valid depth pixels. ``dense`` (``is_dense``) is true only when
    every point is finite.
    """

    fields: tuple[tuple[str, int, int, int], ...]  # (name, offset, datatype, count)
    point_step: int
    height: int
    width: int
    data: np.ndarray  # the packed points, CLOUD_DTYPE (point_step bytes each)
    dense: bool = True  # every point's x, y, z finite


CLOUD_DTYPE = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4"), ("label", "<u4")]
)
CLOUD_FIELDS = (
    ("x", 0, FLOAT32, 1), ("y", 4, FLOAT32, 1), ("z", 8, FLOAT32, 1),
    # rgb packed as 0x00RRGGBB and declared FLOAT32, the PCL/RViz convention
    ("rgb", 12, FLOAT32, 1), ("label", 16, UINT32, 1),
)


@lru_cache(maxsize=8)
def _rays(k_bytes: bytes, height: int, width: int) -> np.ndarray:
    """Return the normalised ray of each pixel: ``(2, height * width)`` float32, row-major.

    Row 0 is ``(u - cx) / fx``, row 1 ``(v - cy) / fy`` (pixel centres at integer ``u, v``)
    for the 3x3 float64 matrix in ``k_bytes``; cached, one entry per camera and image size.
    """
    k = np.frombuffer(k_bytes, dtype=np.float64).reshape(3, 3)
    rays = np.empty((2, height, width), dtype=np.float32)
    rays[0] = ((np.arange(width) - k[0, 2]) / k[0, 0])[None, :]
    rays[1] = ((np.arange(height) - k[1, 2]) / k[1, 1])[:, None]
    rays.setflags(write=False)
    return rays.reshape(2, -1)


@lru_cache(maxsize=8)
def _rays_finite(k_bytes: bytes, height: int, width: int) -> bool:
    """Whether every ray of :func:`_rays` is finite (a NaN or zero focal length makes them not)."""
    return bool(np.isfinite(_rays(k_bytes, height, width)).all())


def point_cloud(
    depth: np.ndarray,
    k: np.ndarray,
    rgb: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    organized: bool = True,
) -> PointCloud:
    """Back-project the depth image into the optical frame, in metres.

    ``depth`` is ``H x W`` metres (valid: finite and > 0), ``k`` the 3x3 intrinsic matrix of
    the depth image, ``rgb`` (``H x W x 3`` uint8) and ``labels`` (``H x W`` class ids)
    optional per-pixel attributes. ``x = (u - cx) / fx * z``, ``y = (v - cy) / fy * z`` in
    float32 with the per-pixel rays cached per camera matrix and image size. ``organized``:
    one point per pixel, NaN ``x, y, z`` at invalid pixels; else one point per valid pixel
    (see :class:`PointCloud`). Built on the host, where the depth already is for its own topic.
    """
    k = np.ascontiguousarray(k, dtype=np.float64).reshape(3, 3)
    height, width = depth.shape
    rays = _rays(k.tobytes(), height, width)
    z = np.ascontiguousarray(depth, dtype=np.float32).reshape(-1)
    valid = (z > 0) & (z < np.inf)  # NaN compares false
    # the model's depth is always valid: then no selection at all
    all_valid = bool(valid.all())
    keep = None if all_valid else np.flatnonzero(valid)
    if keep is not None and organized:  # every pixel stays; invalid ones become NaN points
        z, keep = np.where(valid, z, np.float32(np.nan)), None

    def pick(values: np.ndarray) -> np.ndarray:  # the kept rows of a per-pixel array
        return values if keep is None else np.take(values, keep, axis=0)

    z = pick(z)
    count = z.shape[0]
    words = np.empty((count, 5), dtype=np.float32)  # one row per point, CLOUD_DTYPE layout
    np.multiply(pick(rays[0]), z, out=words[:, 0])
    np.multiply(pick(rays[1]), z, out=words[:, 1])
    words[:, 2] = z
    if rgb is None:
        words.view(np.uint32)[:, 3] = 0
    else:  # little-endian 0x00RRGGBB: bytes B, G, R, 0
        as_bytes = words.view(np.uint8)  # (count, 20)
        as_bytes[:, 12:15] = pick(rgb.reshape(-1, 3))[:, ::-1]
        as_bytes[:, 15] = 0
    words.view(np.uint32)[:, 4] = 0 if labels is None else pick(labels.reshape(-1))
    shape = (height, width) if organized else (1, count)
    # every point finite: finite rays times valid depth (metres: no float32 overflow)
    dense = _rays_finite(k.tobytes(), height, width) and (all_valid or not organized)
    return PointCloud(CLOUD_FIELDS, CLOUD_DTYPE.itemsize, *shape, words.view(CLOUD_DTYPE)[:, 0],
                      dense)
