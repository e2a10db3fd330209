# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What the engine returns and the names it understands, without torch (numpy only).

:class:`Prediction` (one image's outputs) and :class:`BatchLimit` (frames per engine call and
the device out-of-memory events that halved it) besides the head, view and option names.

Modules that only handle results (``outputs``, ``replay``'s writers, ``preview``, the
command-line tool) import these from here, so they load without torch and transformers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

#: Outputs the engine computes by default.
HEADS: tuple[str, ...] = ("depth", "normals", "segmentation", "heatmaps")
#: Further outputs, computed only when asked for by name (``infer(..., heads=[...])``):
#: patch features, the two global embeddings and zero-shot (value-attention) segmentation.
FEATURE_HEADS: tuple[str, ...] = ("features", "embedding", "zeroshot")
ALL_HEADS: tuple[str, ...] = HEADS + FEATURE_HEADS
#: rgb8 colour views, computed on the device from the head they are named after.
VIEWS: dict[str, str] = {
    "normals_color": "normals",
    "segmentation_color": "segmentation",
    "segmentation_confidence": "segmentation",
    "heatmaps_color": "heatmaps",
    "features_pca": "features",
    "zeroshot_color": "zeroshot",
}
#: Views computed only when asked for by name, not with their head by default (replay's
#: ``--heads``; the node computes them when subscribed): the segmentation confidence costs a
#: softmax over every class at full resolution.
ON_REQUEST_VIEWS: frozenset[str] = frozenset({"segmentation_confidence"})
#: Model precisions by name (``config.PRECISIONS`` maps them to torch dtypes).
PRECISION_NAMES: tuple[str, ...] = ("fp32", "bf16", "fp16")
HEATMAP_MODES: tuple[str, ...] = ("cosine", "softmax")
#: Engine backends: ``torch`` runs the transformers model; ``onnxruntime`` the graph written by
#: ``tips-ros export`` (see :mod:`tips_ros.engine.onnx_backend`).
BACKENDS: tuple[str, ...] = ("torch", "onnxruntime")
#: Prompt ensemble of the zero-shot segmentation: each query is filled into every
#: template, the normalised embeddings are averaged and renormalised (TextEncoder.encode).
#: A short subset of the CLIP/TIPS ImageNet templates, biased to scene parts.
ZEROSHOT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
    "a cropped photo of a {}.",
    "there is a {} in the scene.",
    "there is the {} in the scene.",
)


#: Largest side of an explicit ``output_size`` (``WxH``), in pixels.
MAX_OUTPUT_SIDE = 16384


@dataclass(frozen=True)
class OutputSize:
    """The resolution of the image outputs, chosen by the user (``output_size``).

    ``input`` (the default): each camera image's own size. ``WxH``: that many pixels wide and
    high, whatever the camera. A number in (0, 1]: the camera's size times it, rounded (at
    least 1 pixel). Depth, the mask and its confidence, every colour view, the heatmaps and
    normals, the cloud and ``depth/camera_info`` all come at this one size; the engine
    upsamples the heads once, on the device, to it.
    """

    text: str = "input"
    width: int = 0  # WxH: the fixed size; else 0
    height: int = 0
    scale: float = 1.0  # a scale: the factor; else 1.0

    @classmethod
    def parse(cls, text: str) -> OutputSize:
        """Parse ``input``, ``WxH`` or a scale in (0, 1]; raise ValueError (one sentence)."""
        text = str(text).strip().lower()
        if text == "input":
            return cls()
        width, sep, height = text.partition("x")
        if sep:
            if not (width.isdigit() and height.isdigit()) or not (
                    1 <= int(width) <= MAX_OUTPUT_SIDE and 1 <= int(height) <= MAX_OUTPUT_SIDE):
                raise ValueError(f"output_size '{text}' is not WIDTHxHEIGHT with sides in "
                                 f"1..{MAX_OUTPUT_SIDE}")
            return cls(f"{int(width)}x{int(height)}", int(width), int(height))
        try:
            scale = float(text)
        except ValueError:
            scale = 0.0
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"output_size must be input, WIDTHxHEIGHT (e.g. 480x270) or a "
                             f"scale in (0, 1] (e.g. 0.5), not '{text}'")
        return cls(text, scale=scale)

    def shape(self, height: int, width: int) -> tuple[int, int]:
        """Return the outputs' ``(rows, columns)`` for a ``height x width`` camera image."""
        if self.width:
            return self.height, self.width
        if self.scale == 1.0:
            return height, width
        return max(1, round(height * self.scale)), max(1, round(width * self.scale))


@dataclass
class Prediction:
    """Outputs for one input image, at its output size (``H x W``; :class:`OutputSize`).

    The output size is the image's own unless ``EngineConfig.output_size`` says otherwise.
    Arrays are None for heads that were not requested.
    """

    depth: np.ndarray | None = None  # (H, W) float32, metres
    normals: np.ndarray | None = None  # (H, W, 3) float32 unit vectors, optical frame
    class_ids: np.ndarray | None = None  # (H, W) uint8 (uint16 beyond 255 classes)
    confidence: np.ndarray | None = None  # (H, W) uint8 winning class probability * 255
    heatmaps: np.ndarray | None = None  # (H, W, Q) float32, channel i = query i
    queries: tuple[str, ...] = ()
    normals_color: np.ndarray | None = None  # (H, W, 3) uint8 RGB, (n + 1) / 2 * 255
    segmentation_color: np.ndarray | None = None  # (H, W, 3) uint8 RGB, class palette
    heatmaps_color: np.ndarray | None = None  # (H, W, 3) uint8 RGB, best query over the image
    features: np.ndarray | None = None  # (h, w, D) float32 patch tokens, grid = input / 14
    features_pca: np.ndarray | None = None  # (H, W, 3) uint8 RGB, first 3 principal components
    embedding: np.ndarray | None = None  # (1 + R, D) float32 unit rows: CLS, then register(s)
    zeroshot: np.ndarray | None = None  # (H, W) uint8 best query id, 255 = none
    zeroshot_color: np.ndarray | None = None  # (H, W, 3) uint8 RGB, query colours over the image
    #: what ``Engine.infer``'s reduction of this image computed on the device (name -> array)
    reductions: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class BatchLimit:
    """The most frames per engine call, halved by each device out-of-memory.

    What :meth:`Engine.infer_within` reports to its caller (the node's frame path, replay and
    so evaluate): ``batch_limit`` frames per call, ``oom_events`` out-of-memory events so far,
    ``frames_dropped`` the frames they cost, ``last_oom`` the last one's time (monotonic s).
    """

    batch_limit: int
    oom_events: int = 0
    frames_dropped: int = 0
    last_oom: float | None = None

    def on_oom(self, frames: int) -> None:
        """Count a device out-of-memory that dropped ``frames`` frames; halve the batch limit."""
        self.oom_events += 1
        self.frames_dropped += frames
        self.last_oom = time.monotonic()
        self.batch_limit = max(1, frames // 2)
