# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The measurements of one engine configuration: timed pass, stage profile, agreement, FLOPs.

Also the host waits (device -> host synchronisations) of one engine call: ``HostSyncCounter``,
and :func:`parity`, the onnxruntime backend's tolerance figures against the torch engine.

Everything goes through the engine's public methods. Times are milliseconds per frame.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from tips_ros.engine import Engine
from tips_ros.engine.config import model_input_size
from tips_ros.engine.prediction import ALL_HEADS, HEADS, Prediction, VIEWS
from tips_ros.io.imaging import decode_image
from tips_ros.io.outputs import IMAGE, topics_for
from tips_ros.tools.bench.common import (
    build_messages, image_message, STAGES, StageTimer, summarize,
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
    topics = topics_for(heads, kinds=(IMAGE,))  # the image topics of these heads
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


def parity(reference: list[Prediction], other: list[Prediction]) -> dict[str, float]:
    """Measure how closely ``other`` (e.g. onnxruntime) reproduces ``reference`` (torch).

    Over image-resolution predictions (:meth:`Engine.infer`), in the measures of the
    onnxruntime backend's tolerances (docs/edge.md; ``bench/onnx_parity.py``, test_onnx):

    ``depth_max_rel`` and ``heatmaps_max_rel`` (largest absolute difference / largest
    reference magnitude), ``labels_equal`` (fraction of pixels), ``normals_p99_deg`` (99th
    percentile of the angle between the normals, degrees). Heads missing in either are left out.
    """
    out: dict[str, float] = {}
    pairs = list(zip(reference, other, strict=True))
    for name in ("depth", "heatmaps"):
        if all(getattr(r, name) is not None and getattr(o, name) is not None for r, o in pairs):
            worst = max(np.abs(getattr(r, name) - getattr(o, name)).max() for r, o in pairs)
            scale = max(np.abs(getattr(r, name)).max() for r, _ in pairs)
            out[f"{name}_max_rel"] = float(worst / scale)
    if all(r.class_ids is not None and o.class_ids is not None for r, o in pairs):
        equal = [(r.class_ids == o.class_ids).mean() for r, o in pairs]
        out["labels_equal"] = float(np.mean(equal))
    if all(r.normals is not None and o.normals is not None for r, o in pairs):
        cos = np.concatenate([(r.normals * o.normals).sum(-1).ravel() for r, o in pairs])
        out["normals_p99_deg"] = float(np.percentile(np.degrees(np.arccos(np.clip(cos, -1, 1))),
                                                     99))
    return out


def count_gflop(run: Callable[[], Any], frames: int) -> float:
    """Return GFLOP per frame of ``run()``, which processes ``frames`` frames.

    Matrix products, convolutions and attention as counted by ``torch.utils.flop_counter``
    (elementwise work and resampling are not counted): the device-independent arithmetic cost
    of a configuration. torch has no formula for the CPU kernel of
    ``scaled_dot_product_attention`` (it counts 0); it is given that of the CUDA kernels, so a
    CPU count includes the attention products as a GPU count does.
    """
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_attention(query: Any, key: Any, value: Any, *_: Any, **__: Any) -> int:
        return sdpa_flop_count(query, key, value)

    cpu_kernel = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    with FlopCounterMode(display=False, custom_mapping={cpu_kernel: cpu_attention}) as counter:
        run()
    return counter.get_total_flops() / frames / 1e9


class HostSyncCounter(TorchFunctionMode):
    """Counts the tensor calls that make the host wait for a device's queued work.

    Counted: device -> host reads (``.cpu()``, ``.item()``, ``.tolist()``, a tensor used as a
    Python bool or number, ``.to("cpu")`` of a device tensor) and ops whose output size
    depends on the data (``nonzero``, ``argwhere``, ``masked_select``, ``unique``, indexing
    with a boolean mask). These are the same calls whatever the device, so a run on the CPU
    counts what a CUDA run would wait for; explicit synchronisations are counted by the
    engine itself (``EngineStats.host_syncs``). ``calls`` holds each counted call's name.
    """

    SYNCING = frozenset({"cpu", "item", "tolist", "__bool__", "__int__", "__float__",
                         "nonzero", "argwhere", "masked_select", "unique"})

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if self._waits(getattr(func, "__name__", ""), args, kwargs):
            self.calls.append(func.__name__)
        return func(*args, **kwargs)

    def _waits(self, name: str, args: tuple, kwargs: dict[str, Any]) -> bool:
        """Tell whether the call ``name(*args, **kwargs)`` makes the host wait for the device."""
        if name in self.SYNCING:
            return True
        if name in ("__getitem__", "__setitem__"):  # indexing with a boolean mask
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
        if name == "to" and isinstance(args[0], torch.Tensor) and args[0].device.type != "cpu":
            targets = [*args[1:], kwargs.get("device")]
            return any(str(t.device if isinstance(t, torch.Tensor) else t) == "cpu"
                       for t in targets)
        return False


def host_syncs_per_batch(engine: Engine, frames: list[np.ndarray],
                         heads: set[str]) -> dict[str, int | str] | None:
    """Count the host waits in one ``engine.infer(frames, heads)`` call.

    ``tensor_calls`` (the waiting calls), ``explicit`` (the engine's own synchronisations),
    ``total`` and ``method``: ``torch_function_mode`` (:class:`HostSyncCounter`) on an eager
    torch engine; ``cuda_sync_debug_mode`` (the warnings of ``torch.cuda.set_sync_debug_mode``)
    on any other CUDA engine. None for a compiled or onnxruntime engine on the CPU: the mode
    would break the compiled graphs' guards (a recompile per call) and the CPU has no such
    warnings.
    """
    before = engine.stats.host_syncs
    if engine.config.backend == "torch" and engine.config.compile == "none":
        with HostSyncCounter() as counter:
            engine.infer(frames, heads)
        calls, method = len(counter.calls), "torch_function_mode"
    elif engine.device.type == "cuda":
        method = "cuda_sync_debug_mode"
        calls = _cuda_sync_warnings(lambda: engine.infer(frames, heads))
    else:
        return None
    explicit = engine.stats.host_syncs - before
    return {"tensor_calls": calls, "explicit": explicit, "total": calls + explicit,
            "method": method}


def _cuda_sync_warnings(run: Callable[[], Any]) -> int:
    """Return how many synchronising CUDA calls ``run()`` made (sync debug mode warnings)."""
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    return sum("synchronizing" in str(w.message) for w in caught)
