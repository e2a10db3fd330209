# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What a replay reads from the input bag: its topics, and ground truth as arrays.

``resolve_topics`` checks the requested topics against the bag and fills in the defaults;
``ground_truth`` turns a ground-truth ``Image`` message into metres, unit normals or class ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tips_ros.errors import UsageError
from tips_ros.io.imaging import ImageDecodeError
from tips_ros.offline.bags import require_topics
from tips_ros.offline.options import RunOptions

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"

# numpy dtype and channels of the raw (ground-truth) image encodings read here
_RAW_ENCODINGS: dict[str, tuple[str, int]] = {
    "32FC1": ("f4", 1), "32FC3": ("f4", 3), "16UC1": ("u2", 1), "mono16": ("u2", 1),
    "mono8": ("u1", 1), "8UC1": ("u1", 1),
}


@dataclass(frozen=True)
class Topics:
    """Input topics of one replay (absolute names in the bag)."""

    image: str
    compressed: bool
    camera_info: str | None = None
    gt: dict[str, str] = field(default_factory=dict)  # task -> topic

    def names(self) -> list[str]:
        """Return every topic read from the bag."""
        return [self.image, *([self.camera_info] if self.camera_info else []), *self.gt.values()]


def resolve_topics(reader: Any, run: RunOptions) -> Topics:
    """Check the requested topics against the bag and fill in the defaults.

    The image topic defaults to the bag's only ``Image``/``CompressedImage`` topic that is not
    a ground-truth topic. The camera info topic defaults to the image_transport sibling
    ``<namespace>/camera_info`` (``/camera/image_raw[/compressed]`` -> ``/camera/camera_info``)
    when the bag has it. Raises ``BagError`` for a missing topic (listing the bag's topics) and
    ``UsageError`` for an ambiguous, wrongly typed or empty (no messages) image topic.
    """
    types = {name: info.msgtype for name, info in reader.topics.items()}
    gt = run.gt_topics
    image = run.image_topic or _only_image_topic(types, set(gt.values()))
    camera_info = run.camera_info_topic or _sibling_camera_info(image, types)
    topics = Topics(image, types.get(image) == COMPRESSED_TYPE, camera_info, gt)
    require_topics(reader, topics.names())
    if not reader.topics[image].msgcount:
        raise UsageError(f"Image topic {image} has no messages in this bag: nothing to replay.")
    _require_type(types, image, (IMAGE_TYPE, COMPRESSED_TYPE))
    if camera_info:
        _require_type(types, camera_info, (CAMERA_INFO_TYPE,))
    for topic in gt.values():
        _require_type(types, topic, (IMAGE_TYPE,))
    return topics


def _only_image_topic(types: dict[str, str], exclude: set[str]) -> str:
    candidates = sorted(t for t, m in types.items()
                        if m in (IMAGE_TYPE, COMPRESSED_TYPE) and t not in exclude)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UsageError(f"The bag has no Image or CompressedImage topic; it has: "
                         f"{', '.join(sorted(types))}.")
    raise UsageError(f"The bag has several image topics ({', '.join(candidates)}); "
                     "choose one with --image-topic.")


def _sibling_camera_info(image: str, types: dict[str, str]) -> str | None:
    base = image.removesuffix("/compressed")
    sibling = base.rsplit("/", 1)[0] + "/camera_info"
    return sibling if types.get(sibling) == CAMERA_INFO_TYPE else None


def _require_type(types: dict[str, str], topic: str, allowed: tuple[str, ...]) -> None:
    if types[topic] not in allowed:
        raise UsageError(f"Topic {topic} has type {types[topic]}, expected "
                         f"{' or '.join(allowed)}.")


def raw_image(msg: Any) -> np.ndarray:
    """Return an ``Image`` message's pixels in their own dtype (``HxW`` or ``HxWxC``).

    No conversion, for ground truth: ``32FC1``/``32FC3`` (float32), ``16UC1``/``mono16``
    (uint16), ``mono8``/``8UC1`` (uint8). Raises ``ImageDecodeError`` for other encodings or
    short data.
    """
    if msg.encoding not in _RAW_ENCODINGS:
        raise ImageDecodeError("unknown_encoding",
                               f"ground-truth encoding {msg.encoding!r} is not supported")
    kind, channels = _RAW_ENCODINGS[msg.encoding]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    data = np.asarray(msg.data, dtype=np.uint8)
    if msg.step < msg.width * channels * dtype.itemsize or data.size < msg.step * msg.height:
        raise ImageDecodeError("data_too_short", "ground-truth image data is too short")
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)
    pixels = rows[:, : msg.width * channels * dtype.itemsize].copy().view(dtype)
    native = dtype.newbyteorder("=")
    pixels = pixels.reshape(msg.height, msg.width, channels).astype(native, copy=False)
    return pixels[:, :, 0] if channels == 1 else pixels


def ground_truth(task: str, msg: Any) -> np.ndarray:
    """Return the ground truth of ``task`` (depth, normals, segmentation) in an Image message.

    Depth comes out in metres with NaN for invalid pixels: ``32FC1`` as is, ``16UC1``/``mono16``
    as millimetres with 0 = invalid (REP 118). Normals are ``HxWx3`` float (camera optical
    frame), labels ``HxW`` integer class ids.
    """
    array = raw_image(msg)
    if task == "depth" and array.dtype == np.uint16:
        depth = array.astype(np.float32) / 1000.0
        depth[array == 0] = np.nan
        return depth
    return array
