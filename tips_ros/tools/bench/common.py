# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Small pieces every part of the benchmark uses: option lists, head sets, timing, messages.

All times are milliseconds.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

import numpy as np
import torch

from tips_ros.engine.prediction import ALL_HEADS, HEADS, Prediction, VIEWS
from tips_ros.errors import UsageError
from tips_ros.io.cdr import serialize_image
from tips_ros.io.imaging import encode_image
from tips_ros.io.outputs import encode_prediction

try:  # rclpy is optional: without it the decode stage reads a duck-typed message
    from sensor_msgs.msg import Image
except ImportError:  # pragma: no cover - depends on the installation
    Image = None

T = TypeVar("T")
#: Stages of the profiling pass, in pipeline order (see :mod:`tips_ros.tools.bench`).
STAGES = ("decode", "upload", "resize", "backbone", *ALL_HEADS, "postprocess", "views",
          "download", "messages")


def heads_of(name: str) -> set[str]:
    """Return the engine heads and views of a ``--heads`` item.

    The item is ``+``-joined names, where ``all`` stands for the four outputs of the node
    (depth, normals, segmentation, heatmaps) with their colour views, e.g. ``all``,
    ``depth``, ``depth+normals``, ``all+features+embedding+zeroshot``. A view brings its head.
    """
    core = set(HEADS) | {view for view, head in VIEWS.items() if head in HEADS}
    heads: set[str] = set()
    for part in name.split("+"):
        if part == "all":
            heads |= core
        elif part in ALL_HEADS or part in VIEWS:
            heads.add(part)
        else:
            choices = ", ".join(ALL_HEADS + tuple(VIEWS))
            raise UsageError(f"unknown head '{part}'; choose from all, {choices}")
    return heads | {VIEWS[v] for v in heads & set(VIEWS)}


def image_message(rgb: np.ndarray) -> Any:
    """Wrap ``rgb`` (HxWx3 uint8) in a ``sensor_msgs/Image``.

    An rclpy message if importable, else a duck-typed stand-in with the same fields.
    """
    encoded = encode_image(rgb, "rgb8")
    fields = {"height": encoded.height, "width": encoded.width, "encoding": encoded.encoding,
              "is_bigendian": encoded.is_bigendian, "step": encoded.step,
              "data": encoded.data.tobytes()}
    return SimpleNamespace(**fields) if Image is None else Image(**fields)


def build_messages(pred: Prediction, topics: Collection[str]) -> list[bytes]:
    """Serialise every output of ``pred`` as ``sensor_msgs/Image`` bytes, as the node does."""
    return [serialize_image(0, 0, "camera_optical_frame", encoded)
            for encoded in encode_prediction(pred, topics).values()]


def bytes_per_frame(pred: Prediction, topics: Collection[str]) -> dict[str, int]:
    """Return the serialised ``sensor_msgs/Image`` bytes of each output topic, and ``total``."""
    sizes = {topic: len(serialize_image(0, 0, "camera_optical_frame", encoded))
             for topic, encoded in encode_prediction(pred, topics).items()}
    return {**sizes, "total": sum(sizes.values())}


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """Return p50, p99 and mean of ``samples_ms`` (ms), with the sample count ``n``."""
    values = np.asarray(samples_ms, dtype=np.float64)
    return {"p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99)),
            "mean": float(values.mean()), "n": int(values.size)}


class StageTimer:
    """Accumulates synchronised wall times (ms) per stage name."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.samples: dict[str, list[float]] = defaultdict(list)

    def time(self, fn: Callable[[], T]) -> tuple[T, float]:
        """Run ``fn`` between two device synchronisations; return its result and ms."""
        synchronize(self.device)
        start = time.perf_counter()
        result = fn()
        synchronize(self.device)
        return result, (time.perf_counter() - start) * 1000.0

    def __call__(self, stage: str, fn: Callable[[], T]) -> T:
        result, ms = self.time(fn)
        self.samples[stage].append(ms)
        return result
