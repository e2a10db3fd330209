# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The measurements of one engine configuration: timed pass, stage profile, agreement, FLOPs.

Everything goes through the engine's public methods. Times are milliseconds per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tips_ros.engine import Engine
from tips_ros.engine.config import model_input_size
from tips_ros.engine.prediction import ALL_HEADS, HEADS, VIEWS
from tips_ros.io.imaging import decode_image
from tips_ros.tools.bench.common import (
    build_messages, image_message, STAGES, StageTimer, summarize, topics_of,
)


def timed_pass(engine: Engine, frames: list[np.ndarray], heads: set[str],
               iters: int) -> dict[str, float]:
    """Time ``iters`` calls of ``engine.infer(frames, heads)``.

    Returns per-frame ms (p50, p99, mean, n) and ``fps`` (frames/s over the whole pass).
    """
    per_frame: list[float] = []
    start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        engine.infer(frames, heads)
        per_frame.append((time.perf_counter() - t0) * 1000.0 / len(frames))
    total_s = time.perf_counter() - start
    return {**summarize(per_frame), "fps": iters * len(frames) / total_s}


def _grid(engine: Engine, frame: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """Return the model input size (h, w) in pixels for ``frame`` and its patch grid."""
    size = model_input_size(*frame.shape[:2], engine.config.input_size,
                            engine.config.keep_aspect)
    return size, (size[0] // engine.patch_size, size[1] // engine.patch_size)


@torch.inference_mode()
def profile_pass(engine: Engine, frames: list[np.ndarray], heads: set[str],
                 iters: int) -> dict[str, float]:
    """Return the stage breakdown (mean ms per frame) of ``iters`` synchronised runs.

    ``postprocess`` is :meth:`Engine.postprocess` without the views, ``views`` the extra time
    of the same call with them, ``download`` :meth:`Engine.download` of the outputs;
    ``total`` is the sum of the stages.
    """
    timer = StageTimer(engine.device)
    messages = [image_message(f) for f in frames]
    size, grid = _grid(engine, frames[0])
    base, views = heads & set(ALL_HEADS), heads & set(VIEWS)
    topics = topics_of(heads)
    queries = engine.queries if heads & {"heatmaps", "zeroshot"} else ()
    for _ in range(iters):
        rgb = timer("decode", lambda: [decode_image(m) for m in messages])
        uploaded = timer("upload", lambda: engine.upload(rgb))
        pixels = timer("resize", lambda: engine.resize(uploaded, size))
        features = timer("backbone", lambda: engine.backbone(pixels))
        raw: dict[str, torch.Tensor] = {}
        for head in (h for h in ALL_HEADS if h in base):
            # a head's views are made with it (features_pca is computed in run_heads)
            wanted = {head} | {view for view in views if VIEWS[view] == head}
            raw.update(timer(head, lambda w=wanted: engine.run_heads(features, grid, w)))
        outputs, plain_ms = timer.time(lambda: engine.postprocess(raw, uploaded, base))
        full_ms = plain_ms
        if views:
            outputs, full_ms = timer.time(lambda: engine.postprocess(raw, uploaded, heads))
        timer.samples["postprocess"].append(plain_ms)
        timer.samples["views"].append(max(0.0, full_ms - plain_ms))
        preds = timer("download", lambda: engine.download(outputs, queries))
        timer("messages", lambda: [build_messages(p, topics) for p in preds])
    per_frame = {stage: float(np.mean(timer.samples[stage])) / len(frames)
                 for stage in STAGES if stage in timer.samples}
    per_frame["total"] = sum(per_frame.values())
    return per_frame


@torch.inference_mode()
def raw_outputs(engine: Engine, frames: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Return every head's raw output at head resolution, as float32 numpy.

    depth (B, h, w) metres; normals (B, 3, h, w) unit, camera optical frame; segmentation
    (B, C, h, w) logits; heatmaps (B, Q, ph, pw) cosine similarity. For precision checks.
    """
    size, grid = _grid(engine, frames[0])
    raw = engine.raw_heads(engine.preprocess(frames, size), grid, set(HEADS))
    return {k: v.float().cpu().numpy() for k, v in raw.items()}


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays' elements, in float64."""
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(np.corrcoef(a, b)[0, 1])


def agreement(reference: dict[str, np.ndarray],
              other: dict[str, np.ndarray]) -> dict[str, float]:
    """Measure how closely ``other`` reproduces ``reference`` (both from :func:`raw_outputs`).

    ``depth_median_rel_error`` (fraction), ``normals_median_angle_deg`` (degrees),
    ``segmentation_logit_corr`` and ``heatmap_corr`` (Pearson), ``label_agreement`` (fraction
    of pixels with the same argmax class).
    """
    out: dict[str, float] = {}
    if "depth" in reference:
        ref = reference["depth"]
        rel = np.abs(other["depth"] - ref) / np.maximum(np.abs(ref), 1e-6)
        out["depth_median_rel_error"] = float(np.median(rel))
    if "normals" in reference:
        cos = np.clip((other["normals"] * reference["normals"]).sum(axis=1), -1.0, 1.0)
        out["normals_median_angle_deg"] = float(np.degrees(np.median(np.arccos(cos))))
    if "segmentation" in reference:
        ref, seg = reference["segmentation"], other["segmentation"]
        out["segmentation_logit_corr"] = _correlation(ref, seg)
        out["label_agreement"] = float((ref.argmax(1) == seg.argmax(1)).mean())
    if "heatmaps" in reference and reference["heatmaps"].size:
        out["heatmap_corr"] = _correlation(reference["heatmaps"], other["heatmaps"])
    return out


def count_gflop(run: Callable[[], Any], frames: int) -> float:
    """Return GFLOP per frame of ``run()``, which processes ``frames`` frames.

    Matrix products, convolutions and attention as counted by ``torch.utils.flop_counter``
    (elementwise work and resampling are not counted): the device-independent arithmetic cost
    of a configuration.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / frames / 1e9
