# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What each output topic carries, built from an engine Prediction (no ROS imports).

:data:`TOPICS` is the one table of the output topics: message kind, the engine head or view
that fills each, what the node computes to publish it, whether it needs the camera's
``camera_info``. The node's publishers (:mod:`tips_ros.ros.publishers`), replay's output bag
(:mod:`tips_ros.offline.output_bag`) and the benchmark read it, and they all fill their
messages from the payloads here, so a bag written by replay holds exactly what the node
publishes. The README's "Topics" section lists them for users, with encodings and units.
Adding a topic is one row of :data:`TOPICS` (plus, for a new message kind, its builders).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

from tips_ros.io.imaging import EncodedImage, encode_image

if TYPE_CHECKING:  # only annotations use it: the I/O layer needs nothing of the engine to run
    from tips_ros.engine.prediction import Prediction

#: Message kinds: per-frame sensor_msgs/Image, CameraInfo and PointCloud2, latched
#: std_msgs/String holding JSON, and the vision_msgs ones (LabelInfo, latched; the 2D and 3D
#: detection arrays, per frame).
IMAGE, CAMERA_INFO, POINTS, JSON = "image", "camera_info", "points", "json"
LABEL_INFO, DETECTIONS_2D, DETECTIONS_3D = "label_info", "detections_2d", "detections_3d"
#: Kinds that are latched (transient local): sent when their source changes, not per frame.
LATCHED_KINDS = frozenset({JSON, LABEL_INFO})
#: Groups of topics: the core outputs, the feature outputs (docs/features.md, computed only
#: when subscribed or with ``compute_all``) and the vision_msgs outputs (published only where
#: vision_msgs imports).
CORE, FEATURES, VISION = "core", "features", "vision"
#: What a latched topic is built from: the class names or the query list.
FROM_CLASS_NAMES, FROM_QUERIES = "class_names", "queries"


def labels_json(class_names: Sequence[str]) -> str:
    """``segmentation/labels`` payload: JSON object ``{"0": "wall", ...}`` (id -> class name)."""
    return json.dumps({str(i): name for i, name in enumerate(class_names)})


def queries_json(queries: Sequence[str]) -> str:
    """``heatmaps/queries`` payload: JSON list of the queries in channel order."""
    return json.dumps(list(queries))


def zeroshot_labels_json(queries: Sequence[str]) -> str:
    """``zeroshot/labels`` payload: JSON object ``{"0": "chair", ...}`` of ``zeroshot`` ids.

    Ids follow the query order; id 255 (no query above the threshold) is not listed.
    """
    return json.dumps({str(i): query for i, query in enumerate(queries)})


@dataclass(frozen=True)
class OutputTopic:
    """One output topic of a camera (relative name) and what fills it.

    ``kind``: the message (:data:`IMAGE`, :data:`CAMERA_INFO`, ...). ``with_heads``: the
    engine heads or views whose output the topic carries or comes with; replay writes the
    topic when they all run. ``needs``: the heads and views the node computes to publish it.
    ``source``: the Prediction attribute of an image topic, or what a latched topic is built
    from (:data:`FROM_CLASS_NAMES` or :data:`FROM_QUERIES`); ``payload`` builds a JSON
    topic's text from it. ``camera_info``: needs the camera's accepted ``camera_info``.
    ``group``: :data:`CORE`, :data:`FEATURES` or :data:`VISION`.
    """

    name: str
    kind: str
    with_heads: tuple[str, ...]
    needs: tuple[str, ...] = ()
    source: str = ""
    payload: Callable[[Sequence[str]], str] | None = None
    camera_info: bool = False
    group: str = CORE

    @property
    def latched(self) -> bool:
        """Return whether the topic is transient local (latched), sent when its source changes."""
        return self.kind in LATCHED_KINDS


def _image(name: str, head: str, source: str = "", group: str = CORE) -> OutputTopic:
    """Return the image topic of ``head``, from Prediction attribute ``source`` (or ``head``)."""
    return OutputTopic(name, IMAGE, (head,), (head,), source or head, group=group)


def _json(name: str, head: str, source: str, payload: Callable[[Sequence[str]], str],
          group: str = CORE) -> OutputTopic:
    """Return a latched JSON topic that comes with ``head``: ``payload`` of ``source``."""
    return OutputTopic(name, JSON, (head,), (), source, payload, group=group)


#: Topics that code other than the table names.
LABELS_TOPIC = "segmentation/labels"
QUERIES_TOPIC = "heatmaps/queries"
CAMERA_INFO_TOPIC = "depth/camera_info"
POINTS_TOPIC = "points"
ZEROSHOT_LABELS_TOPIC = "zeroshot/labels"
LABEL_INFO_TOPIC = "segmentation/label_info"
DETECTIONS_TOPIC = "detections"
DETECTIONS_3D_TOPIC = "detections_3d"
#: The output topics, by relative name (README "Topics" describes each for users).
TOPICS: dict[str, OutputTopic] = {topic.name: topic for topic in (
    _image("depth", "depth"),
    _image("normals", "normals"),
    _image("normals/color", "normals_color"),
    _image("segmentation", "segmentation", source="class_ids"),
    _image("segmentation/color", "segmentation_color"),
    _image("segmentation/confidence", "segmentation_confidence", source="confidence"),
    _image("heatmaps", "heatmaps"),
    _image("heatmaps/color", "heatmaps_color"),
    # scaled to the depth image; no head to compute (the node), written with depth (replay)
    OutputTopic(CAMERA_INFO_TOPIC, CAMERA_INFO, ("depth",), camera_info=True),
    _json(LABELS_TOPIC, "segmentation", FROM_CLASS_NAMES, labels_json),
    _json(QUERIES_TOPIC, "heatmaps", FROM_QUERIES, queries_json),
    # coloured by the input image, labelled with class ids where segmentation runs
    OutputTopic(POINTS_TOPIC, POINTS, ("depth",), ("depth", "segmentation"), camera_info=True),
    _image("features", "features", group=FEATURES),
    _image("features/pca", "features_pca", group=FEATURES),
    _image("embedding", "embedding", group=FEATURES),
    _image("zeroshot", "zeroshot", group=FEATURES),
    _image("zeroshot/color", "zeroshot_color", group=FEATURES),
    _json(ZEROSHOT_LABELS_TOPIC, "zeroshot", FROM_QUERIES, zeroshot_labels_json,
          group=FEATURES),
    OutputTopic(LABEL_INFO_TOPIC, LABEL_INFO, ("segmentation",), source=FROM_CLASS_NAMES,
                group=VISION),
    # text-query detections (tips_ros.io.detections); 3D boxes from the depth and camera_info
    OutputTopic(DETECTIONS_TOPIC, DETECTIONS_2D, ("heatmaps",), ("heatmaps",), group=VISION),
    OutputTopic(DETECTIONS_3D_TOPIC, DETECTIONS_3D, ("heatmaps", "depth"), ("heatmaps", "depth"),
                camera_info=True, group=VISION),
)}
#: The core output topics (depth, normals, segmentation, heatmaps and what comes with them).
CORE_TOPICS: tuple[str, ...] = tuple(name for name, t in TOPICS.items() if t.group == CORE)
#: The core per-frame images (depth, normals, segmentation, heatmaps and their views).
CORE_IMAGE_TOPICS: tuple[str, ...] = tuple(
    name for name in CORE_TOPICS if TOPICS[name].kind == IMAGE)
#: The feature outputs (docs/features.md).
FEATURE_TOPICS: tuple[str, ...] = tuple(name for name, t in TOPICS.items() if t.group == FEATURES)
#: The vision_msgs outputs.
VISION_TOPICS: tuple[str, ...] = tuple(name for name, t in TOPICS.items() if t.group == VISION)
#: Per-frame topics made from the camera's calibration (none without a valid camera_info).
GEOMETRY_TOPICS = frozenset(name for name, t in TOPICS.items() if t.camera_info)


def heads_for(topics: Iterable[str]) -> set[str]:
    """Return the engine heads/views needed to publish ``topics`` (camera info needs none)."""
    return {head for topic in topics for head in TOPICS[topic].needs}


def topics_for(heads: Collection[str], camera_info: bool = True,
               kinds: Collection[str] | None = None) -> list[str]:
    """Return the topics (of ``kinds``, default all) that come with the engine ``heads``.

    Those that need a ``camera_info`` only when ``camera_info`` is true.
    """
    return [name for name, t in TOPICS.items() if set(t.with_heads) <= set(heads)
            and (kinds is None or t.kind in kinds) and (camera_info or not t.camera_info)]


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
        if TOPICS[topic].kind != IMAGE:
            continue
        array = getattr(pred, TOPICS[topic].source)
        if array is not None:
            out[topic] = encode_image(array, image_encoding(topic, array))
    return out


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


def colors_at(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return the ``HxWx3`` uint8 image ``rgb`` at ``shape`` = (rows, columns).

    The output size may differ from the camera's (``output_size``): area averaging when
    shrinking, bilinear when enlarging; ``rgb`` itself when it has that size.
    """
    if rgb.shape[:2] == tuple(shape):
        return rgb
    shrink = shape[0] <= rgb.shape[0] and shape[1] <= rgb.shape[1]
    return cv2.resize(rgb, (shape[1], shape[0]),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


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
    class_ids: np.ndarray | None = None,
    organized: bool = True,
) -> PointCloud:
    """Back-project the depth image into the optical frame, in metres.

    ``depth`` is ``H x W`` metres (valid: finite and > 0), ``k`` the 3x3 intrinsic matrix of
    the depth image, ``rgb`` (``H x W x 3`` uint8; the camera image at another size is resized
    to ``H x W`` first, see :func:`colors_at`) and ``class_ids`` (``H x W``) optional
    per-pixel attributes. ``x = (u - cx) / fx * z``, ``y = (v - cy) / fy * z`` in
    float32 with the per-pixel rays cached per camera matrix and image size. ``organized``:
    one point per pixel, NaN ``x, y, z`` at invalid pixels; else one point per valid pixel
    (see :class:`PointCloud`). Built on the host, where the depth already is for its own topic.
    """
    k = np.ascontiguousarray(k, dtype=np.float64).reshape(3, 3)
    height, width = depth.shape
    rgb = None if rgb is None else colors_at(rgb, (height, width))
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
    words.view(np.uint32)[:, 4] = 0 if class_ids is None else pick(class_ids.reshape(-1))
    shape = (height, width) if organized else (1, count)
    # every point finite: finite rays times valid depth (metres: no float32 overflow)
    dense = _rays_finite(k.tobytes(), height, width) and (all_valid or not organized)
    return PointCloud(CLOUD_FIELDS, CLOUD_DTYPE.itemsize, *shape, words.view(CLOUD_DTYPE)[:, 0],
                      dense)
