# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros bench``: latency, throughput, stage breakdown and precision of the engine,
with the naive transformers pipeline measured in the same run as the reference.

For every configuration (precision x batch x compile x heads) the bench runs

* a **timed pass**: ``Engine.infer`` on ``batch`` camera frames per call, from the uint8 image
  on the host to numpy outputs on the host (upload, resize, backbone, heads, upsampling,
  colour views, download); reported as p50/p99 ms per frame and frames/s;
* a separate **profiling pass** that runs the same work stage by stage with a device
  synchronisation after each stage (so stage times add up but the pass itself is slower):

  =============  ============================================================================
  decode         ``imaging.decode_image`` of a ROS ``Image`` message (rgb8, host)
  upload         host -> device copy of the uint8 frames (pinned memory on CUDA)
  resize         resize to the model input and scale to 0..1 on the device
  backbone       one ViT pass returning the four DPT feature maps
  depth          DPT neck + decoder + fp32 bin expectation (at head resolution)
  normals        DPT neck + decoder + fp32 normalisation
  segmentation   DPT neck + decoder (logits)
  heatmaps       cosine similarity of the patch tokens to the cached query embeddings
  postprocess    upsampling to the frame size, renormalisation, argmax, whole batch (device)
  views          rgb8 colour views (normals, palette, heatmap overlay) on the device
  download       device -> host copies of every output array, one synchronisation
  messages       ``outputs.encode_prediction`` + serialised ``Image`` bytes, all topics
  =============  ============================================================================

* **precision agreement** of the configuration's raw head outputs with the fp32 eager engine
  on the same frames (depth median relative error, normals median angle in degrees,
  segmentation-logit and heatmap Pearson correlation, label agreement);
* the **naive pipeline** once per batch size: fp32 eager ``Tipsv2DptForDensePrediction`` with
  ``Tipsv2DptImageProcessor`` preprocessing and post-processing, plus a second vision pass
  through ``Tipsv2Model.vision_model`` for the heatmaps; its agreement with the fast fp32 path
  and the speed ratio ``naive p50 / fast p50`` are reported.

``--e2e`` adds an end-to-end run through real rclpy in separate processes (camera publisher
process -> ``tips_node`` process -> this process subscribed to every output), reporting
stamp-to-receipt latency, achieved vs offered rate, drops and the ROS-side cost (decode,
message building, publishing) measured separately.

All times are milliseconds, rates frames/s, memory bytes.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from tips_ros.engine.engine import (
    ALL_HEADS, BACKENDS, HEADS, VIEWS, Engine, EngineConfig, Prediction, model_input_size,
    resolve_device,
)
from tips_ros.offline.arguments import parse_size
from tips_ros.tools.camera_sim import make_frames
from tips_ros.io.cdr import serialize_image
from tips_ros.errors import UsageError
from tips_ros.io.imaging import decode_image, encode_image
from tips_ros.io.outputs import IMAGE_TOPICS, STREAM_TOPICS, encode_prediction

T = TypeVar("T")
DEFAULT_QUERIES = ("person", "chair", "table", "door")
#: Stages of the profiling pass, in pipeline order (see the module docstring).
STAGES = ("decode", "upload", "resize", "backbone", *ALL_HEADS, "postprocess", "views", "download", "messages")

try:  # rclpy is optional: without it the decode stage reads a duck-typed message
    from sensor_msgs.msg import Image
except ImportError:  # pragma: no cover - depends on the installation
    Image = None


# ---------------------------------------------------------------------------- small helpers
def parse_list(text: str, kind: Callable[[str], T] = str) -> list[T]:
    """``"1,8"`` -> ``[1, 8]`` (with ``kind=int``)."""
    try:
        return [kind(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError as err:
        raise UsageError(f"cannot parse list '{text}': {err}") from err


def heads_of(name: str) -> set[str]:
    """Engine heads/views of a ``--heads`` item: ``+``-joined names, where ``all`` stands for
    the four outputs of the node (depth, normals, segmentation, heatmaps) with their colour
    views, e.g. ``all``, ``depth``, ``depth+normals``, ``all+features+embedding+zeroshot``."""
    core = set(HEADS) | {view for view, head in VIEWS.items() if head in HEADS}
    heads: set[str] = set()
    for part in name.split("+"):
        if part == "all":
            heads |= core
        elif part in ALL_HEADS or part in VIEWS:
            heads.add(part)
        else:
            raise UsageError(f"unknown head '{part}'; choose from all, {', '.join(ALL_HEADS + tuple(VIEWS))}")
    return heads | {VIEWS[v] for v in heads & set(VIEWS)}


def topics_of(heads: Collection[str]) -> list[str]:
    """Image topics whose payload the engine produces for ``heads``."""
    return [topic for topic, (_, head) in STREAM_TOPICS.items() if head in heads]


def image_message(rgb: np.ndarray) -> Any:
    """A ``sensor_msgs/Image`` (rclpy if importable, else a duck-typed stand-in) holding ``rgb``."""
    encoded = encode_image(rgb, "rgb8")
    fields = dict(height=encoded.height, width=encoded.width, encoding=encoded.encoding,
                  is_bigendian=encoded.is_bigendian, step=encoded.step, data=encoded.data.tobytes())
    return SimpleNamespace(**fields) if Image is None else Image(**fields)


def build_messages(pred: Prediction, topics: Collection[str]) -> list[bytes]:
    """Every output of ``pred`` as serialised ``sensor_msgs/Image`` bytes, as the node publishes them."""
    return [serialize_image(0, 0, "camera_optical_frame", e) for e in encode_prediction(pred, topics).values()]


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p99 and mean of ``samples_ms`` (ms), with the sample count."""
    values = np.asarray(samples_ms, dtype=np.float64)
    return {"p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99)),
            "mean": float(values.mean()), "n": int(values.size)}


class StageTimer:
    """Accumulates synchronised wall times (ms) per stage name."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.samples: dict[str, list[float]] = defaultdict(list)

    def time(self, fn: Callable[[], T]) -> tuple[T, float]:
        """Run ``fn`` between two device synchronisations; its result and ms."""
        synchronize(self.device)
        start = time.perf_counter()
        result = fn()
        synchronize(self.device)
        return result, (time.perf_counter() - start) * 1000.0

    def __call__(self, stage: str, fn: Callable[[], T]) -> T:
        result, ms = self.time(fn)
        self.samples[stage].append(ms)
        return result


# ---------------------------------------------------------------------------- engine passes
def timed_pass(engine: Engine, frames: list[np.ndarray], heads: set[str], iters: int) -> dict[str, float]:
    """``iters`` calls of ``engine.infer(frames, heads)``; per-frame ms p50/p99 and frames/s."""
    per_frame: list[float] = []
    start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        engine.infer(frames, heads)
        per_frame.append((time.perf_counter() - t0) * 1000.0 / len(frames))
    total_s = time.perf_counter() - start
    return {**summarize(per_frame), "fps": iters * len(frames) / total_s}


@torch.inference_mode()
def profile_pass(engine: Engine, frames: list[np.ndarray], heads: set[str], iters: int) -> dict[str, float]:
    """Stage breakdown (mean ms per frame) of ``iters`` synchronised runs of the pipeline.

    ``postprocess`` is :meth:`Engine.postprocess` without the views, ``views`` the extra time
    of the same call with them, ``download`` :meth:`Engine.download` of the outputs.
    """
    timer = StageTimer(engine.device)
    messages = [image_message(f) for f in frames]
    size = model_input_size(*frames[0].shape[:2], engine.config.input_size, engine.config.keep_aspect)
    grid = (size[0] // engine.patch_size, size[1] // engine.patch_size)
    base, views = heads & set(ALL_HEADS), heads & set(VIEWS)
    topics = topics_of(heads)
    queries = engine.queries if heads & {"heatmaps", "zeroshot"} else ()
    for _ in range(iters):
        rgb = timer("decode", lambda: [decode_image(m) for m in messages])
        uploaded = timer("upload", lambda: engine.upload(rgb))
        pixels = timer("resize", lambda: engine.resize(uploaded, size))
        features = timer("backbone", lambda: engine.model.backbone(pixels).feature_maps)
        raw: dict[str, torch.Tensor] = {}
        for head in (h for h in ALL_HEADS if h in base):
            wanted = {head} | {view for view in views if VIEWS[view] == head}  # features_pca is made here
            raw.update(timer(head, lambda wanted=wanted: engine.run_heads(features, grid, wanted)))
        outputs, plain_ms = timer.time(lambda: engine.postprocess(raw, uploaded, base))
        if views:
            outputs, full_ms = timer.time(lambda: engine.postprocess(raw, uploaded, heads))
        timer.samples["postprocess"].append(plain_ms)
        timer.samples["views"].append(max(0.0, full_ms - plain_ms) if views else 0.0)
        preds = timer("download", lambda: engine.download(outputs, queries))
        timer("messages", lambda: [build_messages(p, topics) for p in preds])
    per_frame = {stage: float(np.mean(timer.samples[stage])) / len(frames)
                 for stage in STAGES if stage in timer.samples}
    per_frame["total"] = sum(per_frame.values())
    return per_frame


@torch.inference_mode()
def raw_outputs(engine: Engine, frames: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every head's raw output at head resolution, as float32 numpy (for precision checks).

    depth (B, h, w) metres; normals (B, 3, h, w) unit; segmentation (B, C, h, w) logits;
    heatmaps (B, Q, ph, pw) cosine similarity.
    """
    size = model_input_size(*frames[0].shape[:2], engine.config.input_size, engine.config.keep_aspect)
    grid = (size[0] // engine.patch_size, size[1] // engine.patch_size)
    raw = engine.raw_heads(engine.preprocess(frames, size), grid, set(HEADS))
    return {k: v.float().cpu().numpy() for k, v in raw.items()}


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(np.corrcoef(a, b)[0, 1])


def agreement(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """How closely ``other`` reproduces ``reference`` (outputs as from :func:`raw_outputs`).

    ``depth_median_rel_error`` (fraction), ``normals_median_angle_deg`` (degrees),
    ``segmentation_logit_corr`` and ``heatmap_corr`` (Pearson), ``label_agreement`` (fraction of
    pixels with the same argmax class).
    """
    out: dict[str, float] = {}
    if "depth" in reference:
        rel = np.abs(other["depth"] - reference["depth"]) / np.maximum(np.abs(reference["depth"]), 1e-6)
        out["depth_median_rel_error"] = float(np.median(rel))
    if "normals" in reference:
        cos = np.clip((other["normals"] * reference["normals"]).sum(axis=1), -1.0, 1.0)
        out["normals_median_angle_deg"] = float(np.degrees(np.median(np.arccos(cos))))
    if "segmentation" in reference:
        out["segmentation_logit_corr"] = _correlation(reference["segmentation"], other["segmentation"])
        out["label_agreement"] = float(
            (reference["segmentation"].argmax(1) == other["segmentation"].argmax(1)).mean())
    if "heatmaps" in reference and reference["heatmaps"].size:
        out["heatmap_corr"] = _correlation(reference["heatmaps"], other["heatmaps"])
    return out


# ---------------------------------------------------------------------------- naive pipeline
def naive_processor(input_size: int) -> Any:
    """transformers' PIL image processor with ``Tipsv2DptImageProcessor``'s settings (bilinear
    resize to ``input_size`` squared, rescale 1/255, no normalisation). The torchvision-backed
    class itself needs torchvision, which this project does not depend on."""
    from transformers.image_processing_backends import PilBackend
    from transformers.image_utils import PILImageResampling

    class Tipsv2PilProcessor(PilBackend):
        resample = PILImageResampling.BILINEAR
        size = {"height": input_size, "width": input_size}
        do_resize, do_rescale, do_normalize, do_convert_rgb = True, True, False, True

    return Tipsv2PilProcessor()


class NaivePipeline:
    """What a user of transformers writes: image processor -> DPT forward -> per-image
    post-processing as ``Tipsv2DptImageProcessor.post_process_*`` (bilinear upsampling, L2
    normalisation, argmax), plus a second vision pass of ``Tipsv2Model`` for the heatmaps.
    fp32, eager attention."""

    def __init__(self, model: str, text_model: str, device: torch.device, input_size: int,
                 text_embeddings: torch.Tensor) -> None:
        from transformers import Tipsv2DptForDensePrediction, Tipsv2Model

        from tips_ros.engine.loading import load_pretrained

        self.device = device
        self.processor = naive_processor(input_size)
        self.dpt = load_pretrained(Tipsv2DptForDensePrediction, model).to(device).eval()
        self.vision = load_pretrained(Tipsv2Model, text_model).vision_model.to(device).eval()
        self.skip = 1 + self.vision.config.num_register_tokens
        self.patch = self.vision.config.patch_size
        self.text = text_embeddings.float().to(device)

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray]) -> tuple[dict[str, torch.Tensor], list[dict[str, np.ndarray]]]:
        """Raw head outputs (as :func:`raw_outputs`) and per-image host outputs at image size."""
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        out = self.dpt(pixel_values=pixels)
        tokens = self.vision(pixel_values=pixels).last_hidden_state
        ph, pw = (s // self.patch for s in pixels.shape[-2:])
        patches = F.normalize(tokens[:, self.skip:], dim=-1)
        heat = torch.einsum("bnd,qd->bqn", patches, self.text).reshape(len(images), -1, ph, pw)
        # outward normals, as the engine publishes them (the released head predicts their
        # negative; docs/models.md)
        normals = -F.normalize(out.normals, p=2, dim=1)
        raw = {"depth": out.predicted_depth, "normals": normals, "segmentation": out.segmentation_logits,
               "heatmaps": heat}
        host = []
        for i, image in enumerate(images):
            up = {name: F.interpolate(raw[name][i : i + 1] if name != "depth" else raw[name][i][None, None],
                                      size=image.shape[:2], mode="bilinear", align_corners=False)[0]
                  for name in raw}
            host.append({"depth": up["depth"][0].cpu().numpy(), "normals": up["normals"].cpu().numpy(),
                         "labels": up["segmentation"].argmax(dim=0).cpu().numpy(),
                         "heatmaps": up["heatmaps"].cpu().numpy()})
        return raw, host

    def close(self) -> None:
        """Release the models."""
        del self.dpt, self.vision


def time_naive(naive: NaivePipeline, frames: list[np.ndarray], iters: int, warmup: int) -> dict[str, float]:
    """p50/p99 ms per frame and frames/s of the naive pipeline on batches of ``frames``."""
    for _ in range(warmup):
        naive(frames)
    per_frame, start = [], time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        naive(frames)
        per_frame.append((time.perf_counter() - t0) * 1000.0 / len(frames))
    return {**summarize(per_frame), "fps": iters * len(frames) / (time.perf_counter() - start)}


# ---------------------------------------------------------------------------- environment
def machine_info(device: torch.device) -> dict[str, Any]:
    """CPU model and cores, GPU name, driver and CUDA version (when on CUDA)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
                            "device": str(device), "gpu": None, "driver": None, "cuda": torch.version.cuda}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        try:
            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            info["driver"] = None
    return info


def versions() -> dict[str, str | None]:
    """Versions of python, torch, transformers, numpy, rclpy (if installed) and this package."""
    def dist(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__,
            "rclpy": dist("ros-rclpy") or dist("rclpy"), "tips_ros": dist("tips_ros") or dist("tips-ros")}


def command_line(args: argparse.Namespace) -> str:
    """The equivalent ``tips-ros bench`` command with every option spelt out."""
    parts = ["tips-ros", "bench"]
    for name, value in sorted(vars(args).items()):
        if name.startswith("_") or name == "command" or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)


# ---------------------------------------------------------------------------- the run
@dataclass
class Setup:
    """What every configuration shares: models, frames, reference outputs."""

    model: str
    text_model: str
    frames: list[np.ndarray]
    queries: tuple[str, ...]


def _engine(args: argparse.Namespace, setup: Setup, precision: str, compile_mode: str) -> Engine:
    engine = Engine(EngineConfig(model=setup.model, text_model=setup.text_model, device=args.device,
                                 precision=precision, input_size=args.input_size, compile=compile_mode,
                                 channels_last=args.channels_last))
    engine.set_queries(setup.queries)
    return engine


def bench_engines(args: argparse.Namespace, setup: Setup, results: list[dict[str, Any]],
                  naive_results: dict[str, Any], checkpoint: Callable[[], None]) -> None:
    """Append every configuration's results to ``results`` and put the naive pipeline's results
    per batch size into ``naive_results``, calling ``checkpoint`` after each one."""
    batches = parse_list(args.batch, int)
    heads_list = parse_list(args.heads)
    reference = _engine(args, setup, "fp32", "none")
    device = reference.device
    naive = NaivePipeline(setup.model, setup.text_model, device, args.input_size,
                          reference.text.encode(setup.queries))
    references: dict[int, dict[str, np.ndarray]] = {}
    for batch in batches:
        frames = setup.frames[:batch]
        references[batch] = raw_outputs(reference, frames)
        naive_raw, _ = naive(frames)
        naive_results[str(batch)] = {
            **time_naive(naive, frames, args.iters, args.warmup),
            "gflop_per_frame": count_gflop(lambda: naive(frames), batch),
            "agreement_with_fast_fp32": agreement(references[batch], {k: v.float().cpu().numpy()
                                                                     for k, v in naive_raw.items()}),
        }
        checkpoint()
    naive.close()
    backends = parse_list(args.backend)
    if set(backends) - set(BACKENDS):
        raise UsageError(f"--backend takes a comma list of {', '.join(BACKENDS)}, not {args.backend}")
    for precision in parse_list(args.precision) if "torch" in backends else ():
        for compile_mode in parse_list(args.compile):
            fresh = precision != "fp32" or compile_mode != "none" or args.channels_last
            engine = _engine(args, setup, precision, compile_mode) if fresh else reference
            for batch in batches:
                frames = setup.frames[:batch]
                for heads_name in heads_list:
                    heads = heads_of(heads_name)
                    print(f"bench: {precision} batch {batch} compile {compile_mode} heads {heads_name}",
                          file=sys.stderr, flush=True)
                    results.append(_bench_one(args, engine, frames, heads, heads_name, references[batch],
                                              naive_results[str(batch)]))
                    checkpoint()
            if fresh:
                engine.close()
    if "onnxruntime" in backends:
        bench_onnxruntime(args, setup, results, references, naive_results, checkpoint)
    reference.close()


def bench_onnxruntime(args: argparse.Namespace, setup: Setup, results: list[dict[str, Any]],
                      references: dict[int, dict[str, np.ndarray]],
                      naive_results: dict[str, Any], checkpoint: Callable[[], None]) -> None:
    """The onnxruntime backend on graphs exported in this run (dynamic batch; fp32, and fp16
    if in ``--precision``), for every batch and heads set it has, measured like the torch
    configurations (``export_s``: the export; ``warmup_s`` includes a TensorRT engine build)."""
    from tips_ros.engine.onnx_export import export

    with tempfile.TemporaryDirectory(prefix="tips_bench_onnx_") as tmp:
        for precision in (p for p in parse_list(args.precision) if p in ("fp32", "fp16")):
            path, start = Path(tmp) / f"{precision}.onnx", time.perf_counter()
            print(f"bench: exporting {precision} ONNX", file=sys.stderr, flush=True)
            export(setup.model, path, HEADS, (args.input_size, args.input_size), None,
                   precision == "fp16")
            export_s = time.perf_counter() - start
            engine = Engine(EngineConfig(
                model=setup.model, text_model=setup.text_model, device=args.device,
                precision=precision, input_size=args.input_size, backend="onnxruntime",
                onnx_model=str(path)))
            engine.set_queries(setup.queries)
            for batch, reference in references.items():
                for heads_name in parse_list(args.heads):
                    heads = heads_of(heads_name)
                    if {VIEWS.get(head, head) for head in heads} - set(engine.heads):
                        continue  # feature outputs: backend torch only
                    print(f"bench: onnxruntime {precision} batch {batch} heads {heads_name}",
                          file=sys.stderr, flush=True)
                    results.append({**_bench_one(args, engine, setup.frames[:batch], heads,
                                                 heads_name, reference, naive_results[str(batch)]),
                                    "export_s": export_s})
                    checkpoint()
            engine.close()


def _bench_one(args: argparse.Namespace, engine: Engine, frames: list[np.ndarray], heads: set[str],
               heads_name: str, reference: dict[str, np.ndarray], naive: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    engine.warmup([frames[0].shape[:2]], batch=len(frames), heads=heads)
    warmup_s = time.perf_counter() - start
    for _ in range(args.warmup):
        engine.infer(frames, heads)
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)
    timed = timed_pass(engine, frames, heads, args.iters)
    memory = engine.device_memory()
    return {
        "precision": (str(engine.dtype).replace("torch.", "") if engine.onnx is None
                      else {"fp32": "float32", "fp16": "float16"}[engine.onnx.precision]),
        "batch": len(frames), "backend": engine.config.backend,
        "providers": engine.onnx.providers if engine.onnx is not None else None,
        "compile": engine.config.compile, "channels_last": engine.config.channels_last,
        "heads": heads_name, "input_size": list(model_input_size(*frames[0].shape[:2], engine.config.input_size,
                                                                 engine.config.keep_aspect)),
        "frame_size": [int(frames[0].shape[1]), int(frames[0].shape[0])],
        "ms_per_frame": {k: timed[k] for k in ("p50", "p99", "mean", "n")}, "fps": timed["fps"],
        "warmup_s": warmup_s,
        "stages_ms_per_frame": (profile_pass(engine, frames, heads, args.profile_iters)
                                if engine.onnx is None else None),  # the graph is one stage
        "peak_device_memory_bytes": memory["peak"] if engine.device.type == "cuda" else None,
        # device-wide, so it includes onnxruntime's own memory arena, which torch's peak misses
        "device_used_bytes": (torch.cuda.mem_get_info(engine.device)[1]
                              - torch.cuda.mem_get_info(engine.device)[0]
                              if engine.device.type == "cuda" else None),
        # compiled kernels are invisible to the counter: eager configurations only
        "gflop_per_frame": (count_gflop(lambda: engine.infer(frames, heads), len(frames))
                            if engine.config.compile == "none" and engine.onnx is None
                            else None),
        "host_syncs_per_batch": host_syncs_per_batch(engine, frames, heads),
        "agreement_vs_fp32": agreement(reference, raw_outputs(engine, frames)),
        "speedup_vs_naive": naive["p50"] / timed["p50"],
    }


class HostSyncCounter(TorchFunctionMode):
    """Counts the tensor calls that make the host wait for a device's queued work.

    Counted: device -> host reads (``.cpu()``, ``.item()``, ``.tolist()``, a tensor used as a
    Python bool or number, ``.to("cpu")`` of a device tensor) and ops whose output size
    depends on the data (``nonzero``, ``argwhere``, ``masked_select``, ``unique``, indexing
    with a boolean mask). These are the same calls whatever the device, so a run on the CPU
    counts what a CUDA run would wait for; explicit synchronisations are counted by the
    engine itself (``EngineStats.host_syncs``). ``calls`` holds each counted call's name.
    """

    SYNCING = frozenset({"cpu", "item", "tolist", "__bool__", "__int__", "__float__", "nonzero",
                         "argwhere", "masked_select", "unique"})

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
        """Whether the call ``name(*args, **kwargs)`` makes the host wait for the device."""
        if name in self.SYNCING:
            return True
        if name in ("__getitem__", "__setitem__"):  # indexing with a boolean mask
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
        if name == "to" and isinstance(args[0], torch.Tensor) and args[0].device.type != "cpu":
            targets = [*args[1:], kwargs.get("device")]
            return any(str(t.device if isinstance(t, torch.Tensor) else t) == "cpu" for t in targets)
        return False


def host_syncs_per_batch(engine: Engine, frames: list[np.ndarray],
                         heads: set[str]) -> dict[str, int]:
    """Host waits in one ``engine.infer(frames, heads)`` call: ``tensor_calls`` (counted by
    :class:`HostSyncCounter`), ``explicit`` (the engine's own synchronisations) and ``total``."""
    before = engine.stats.host_syncs
    with HostSyncCounter() as counter:
        engine.infer(frames, heads)
    explicit = engine.stats.host_syncs - before
    return {"tensor_calls": len(counter.calls), "explicit": explicit,
            "total": len(counter.calls) + explicit}


def count_gflop(run: Callable[[], Any], frames: int) -> float:
    """GFLOP per frame of ``run()`` (which processes ``frames`` frames): matrix products,
    convolutions and attention as counted by ``torch.utils.flop_counter`` (elementwise work and
    resampling are not counted). The device-independent arithmetic cost of a configuration."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / frames / 1e9


# ---------------------------------------------------------------------------- end to end
def _ros_env() -> dict[str, str]:
    """Environment for the e2e processes: localhost discovery, a private domain id."""
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 100))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def ros_side_cost(node: Any, pred: Prediction, rgb: np.ndarray, iters: int) -> dict[str, float]:
    """ms per frame for decode + message building + publishing every image output of ``pred``.

    Publishing goes to reliable topics that ``node`` itself subscribes to (real DDS transport
    and serialisation, same machine).
    """
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    topics = list(IMAGE_TOPICS)
    pubs = [node.create_publisher(Image, f"/bench_ros_cost/{t}", qos) for t in topics]
    subs = [node.create_subscription(Image, f"/bench_ros_cost/{t}", lambda _m: None, qos) for t in topics]
    deadline = time.monotonic() + 10.0
    while any(p.get_subscription_count() == 0 for p in pubs) and time.monotonic() < deadline:
        time.sleep(0.05)
    timer, msg = StageTimer(torch.device("cpu")), image_message(rgb)
    for _ in range(iters):
        timer("decode", lambda: decode_image(msg))
        built = timer("messages", lambda: build_messages(pred, topics))
        timer("publish", lambda: [p.publish(m) for p, m in zip(pubs, built)])
    for pub in pubs:
        node.destroy_publisher(pub)
    for sub in subs:
        node.destroy_subscription(sub)
    cost = {stage: float(np.mean(v)) for stage, v in timer.samples.items()}
    cost["total"] = sum(cost.values())
    return cost


def bench_e2e(args: argparse.Namespace, setup: Setup) -> dict[str, Any]:
    """Publisher process -> tips_node process -> listener here; latency, rate, drops, ROS cost."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    env = _ros_env()
    os.environ.update({k: v for k, v in env.items() if k.startswith("ROS_")})
    width, height = parse_size(args.size)
    ns = "/tips_bench"
    precision = parse_list(args.precision)[0]
    node_cmd = [sys.executable, "-m", "tips_ros.ros.startup", "--ros-args", "-r", f"__ns:={ns}",
                "-p", f"model:={setup.model}", "-p", f"text_model:={setup.text_model}",
                "-p", f"device:={args.device}", "-p", f"precision:={precision}",
                "-p", f"input_size:={args.input_size}"]
    rclpy.init()
    listener = rclpy.create_node("tips_bench_listener")
    receipts: dict[str, dict[int, int]] = defaultdict(dict)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    for topic in IMAGE_TOPICS:
        def record(msg: Image, topic: str = topic) -> None:
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            receipts[topic][stamp] = time.time_ns()
        listener.create_subscription(Image, f"{ns}/{topic}", record, qos)
    node_stats: dict[str, str] = {}

    def record_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.hardware_id == f"{ns}/tips_node" and "ros_side_p50_ms" in values:
                node_stats.clear()
                node_stats.update(values)

    listener.create_subscription(DiagnosticArray, "/diagnostics", record_diagnostics, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(listener)
    log = tempfile.NamedTemporaryFile("w+", prefix="tips_bench_node_", suffix=".log", delete=False)
    node = subprocess.Popen(node_cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    # The node skips outputs nobody listens to: start the camera once its publishers and this
    # process's subscriptions have discovered each other.
    deadline = time.monotonic() + 120.0
    while (any(listener.count_publishers(f"{ns}/{t}") == 0 for t in IMAGE_TOPICS)
           and node.poll() is None and time.monotonic() < deadline):
        executor.spin_once(timeout_sec=0.05)
    total = args.e2e_warmup_frames + args.e2e_frames
    camera = subprocess.Popen(
        [sys.executable, "-m", "tips_ros.tools.camera_sim", "--topic", f"{ns}/image", "--frames", str(total),
         "--rate", str(args.e2e_rate), "--width", str(width), "--height", str(height), "--wait-subscriber", "120"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while camera.poll() is None:
            executor.spin_once(timeout_sec=0.01)
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
        sent = [int(line.split()[1]) for line in camera.stdout.read().splitlines() if line.startswith("sent ")]
        measured = sent[args.e2e_warmup_frames:]
        complete = [s for s in measured if all(s in receipts[t] for t in IMAGE_TOPICS)]
        latency = [(max(receipts[t][s] for t in IMAGE_TOPICS) - s) / 1e6 for s in complete]
        last = max((receipts[t][s] for s in complete for t in IMAGE_TOPICS), default=0)
        span_s = (last - measured[0]) / 1e9 if complete else 0.0
        engine = _engine(args, setup, precision, "none")
        pred = engine.infer(setup.frames[:1], set(HEADS) | set(VIEWS))[0]
        engine.close()
        cost = ros_side_cost(listener, pred, setup.frames[0], args.profile_iters)
    finally:
        for proc in (camera, node):
            if proc.poll() is None:
                proc.send_signal(2)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        listener.destroy_node()
        rclpy.try_shutdown()
    if not sent:
        raise RuntimeError(f"e2e: the camera process sent nothing; node log: {log.name}")
    return {
        "frame_size": [width, height], "encoding": "rgb8", "precision": precision,
        "offered_rate_hz": args.e2e_rate, "frames_offered": len(measured),
        "warmup_frames_excluded": args.e2e_warmup_frames,
        "frames_complete": len(complete), "drops": len(measured) - len(complete),
        "achieved_rate_hz": len(complete) / span_s if span_s > 0 else 0.0,
        "latency_ms": summarize(latency) if latency else None,
        "topics": list(IMAGE_TOPICS), "ros_side_ms_per_frame": cost,
        "node_diagnostics": {k: _number(v) for k, v in node_stats.items()}, "node_log": log.name,
    }


def _number(text: str) -> float | str:
    """A diagnostics value as a float where it is one ("12.5" -> 12.5, "n/a" stays)."""
    try:
        return float(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------------- report
def print_table(report: dict[str, Any], out: Any = sys.stdout) -> None:
    """A short human-readable table of ``report``."""
    print(f"{'precision':9} {'batch':>5} {'compile/backend':15} {'heads':14} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'frames/s':>9} {'vs naive':>8} {'peak MiB':>9}", file=out)
    for r in report["configs"]:
        peak = "-" if r["peak_device_memory_bytes"] is None else f"{r['peak_device_memory_bytes'] / 2**20:.0f}"
        runner = r["compile"] if r.get("backend", "torch") == "torch" else r["backend"]
        print(f"{r['precision']:9} {r['batch']:5d} {runner:15} {r['heads']:14} {r['ms_per_frame']['p50']:8.2f} "
              f"{r['ms_per_frame']['p99']:8.2f} {r['fps']:9.1f} {r['speedup_vs_naive']:7.2f}x {peak:>9}", file=out)
    for batch, n in report["naive"].items():
        print(f"naive     {int(batch):5d} {'eager':15} {'all (2 passes)':14} {n['p50']:8.2f} {n['p99']:8.2f} "
              f"{n['fps']:9.1f}", file=out)
    if report.get("e2e"):
        e = report["e2e"]
        lat = e["latency_ms"] or {"p50": float("nan"), "p99": float("nan")}
        print(f"e2e: offered {e['offered_rate_hz']} Hz, achieved {e['achieved_rate_hz']:.1f} Hz, drops "
              f"{e['drops']}/{e['frames_offered']}, latency p50 {lat['p50']:.1f} ms p99 {lat['p99']:.1f} ms, "
              f"ROS side {e['ros_side_ms_per_frame']['total']:.1f} ms/frame "
              f"(in the node: {e['node_diagnostics'].get('ros_side_p50_ms', 'n/a')} ms p50)", file=out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tips-ros bench``."""
    parser.add_argument("--model", help="DPT model (hub id or directory); default: --make-model's")
    parser.add_argument("--text-model", help="image-text model (hub id or directory)")
    parser.add_argument("--make-model", choices=("tiny", "b14"), default=None,
                        help="write random weights of this size to a temp dir (when --model is not given)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="fp32,bf16", help="comma list of fp32, bf16, fp16")
    parser.add_argument("--backend", default="torch",
                        help="comma list of torch, onnxruntime (exported in the run: fp32, fp16)")
    parser.add_argument("--batch", default="1,8", help="comma list of batch sizes (frames per forward)")
    parser.add_argument("--compile", default="none", help="comma list of none, default, reduce-overhead, max-autotune")
    parser.add_argument("--channels-last", action="store_true", help="channels-last DPT convolutions")
    parser.add_argument("--heads", default="all,depth",
                        help="comma list of head sets: all, or +-joined heads/views (depth+normals)")
    parser.add_argument("--size", default="640x480", help="camera frame WIDTHxHEIGHT")
    parser.add_argument("--input-size", type=int, default=448, help="model input side (multiple of 14)")
    parser.add_argument("--iters", type=int, default=50, help="timed calls per configuration")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls before timing")
    parser.add_argument("--profile-iters", type=int, default=5, help="calls of the stage-profiling pass")
    parser.add_argument("--queries", default=",".join(DEFAULT_QUERIES), help="comma list of heatmap queries")
    parser.add_argument("--json", help="write the full report to this JSON file")
    parser.add_argument("--e2e", action="store_true", help="also run end to end through rclpy processes")
    parser.add_argument("--e2e-rate", type=float, default=30.0, help="offered camera rate, Hz")
    parser.add_argument("--e2e-frames", type=int, default=150, help="measured e2e frames")
    parser.add_argument("--e2e-warmup-frames", type=int, default=10, help="e2e frames excluded at the start")


def run(args: argparse.Namespace) -> int:
    """``tips-ros bench``: run every configuration, print a table, optionally write JSON."""
    with tempfile.TemporaryDirectory(prefix="tips_bench_") as tmp:
        if args.model is None:
            if args.make_model is None:
                raise UsageError("give --model (and --text-model) or --make-model tiny|b14")
            from tips_ros.engine.testmodel import write_test_models

            model, text_model = (str(p) for p in write_test_models(tmp, args.make_model))
        else:
            model, text_model = args.model, args.text_model or "google/tipsv2-b14"
        width, height = parse_size(args.size)
        setup = Setup(model, text_model, make_frames(max(parse_list(args.batch, int)), height, width),
                      tuple(parse_list(args.queries)))
        report: dict[str, Any] = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": command_line(args), "argv": sys.argv,
            "machine": machine_info(resolve_device(args.device)),
            "versions": versions(), "model": args.model or f"random {args.make_model}",
            "queries": list(setup.queries), "stages": list(STAGES), "configs": [], "naive": {},
            "e2e": None, "complete": False,
        }

        def checkpoint() -> None:
            if args.json:
                write_json(Path(args.json), report)

        bench_engines(args, setup, report["configs"], report["naive"], checkpoint)
        if args.e2e:
            report["e2e"] = bench_e2e(args, setup)
        report["complete"] = True
        checkpoint()
    print_table(report)
    return 0


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Replace ``path`` with ``report`` atomically, so a run stopped at any point (timeout,
    Ctrl-C, a crash) leaves the results so far as valid JSON (``complete`` says whether it ended)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(report, indent=1) + "\n")
    partial.replace(path)

