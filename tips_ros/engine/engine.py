# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The TIPSv2 inference engine: one backbone pass per frame, only the requested heads.

No ROS imports: the node, ``tips-ros replay`` and the benchmarks all run this module. Data flow
for a batch of RGB uint8 images (each ``HxWx3``, any size):

1. upload (pinned host memory on CUDA), resize on the device to the model input size with
   bilinear antialiasing and rounding to uint8 levels, scale by 1/255 (this is what
   ``Tipsv2ImageProcessor`` does; no mean/std normalisation);
2. one backbone pass and the requested heads in the backend (:mod:`tips_ros.engine.backend`:
   the torch model, or the graph ``tips-ros export`` wrote, run by onnxruntime);
3. on the device, per group of images of one original size: upsampling to that size, argmax,
   colour views; then every output copied to the host with one synchronisation per ``infer``
   call (:mod:`tips_ros.engine.postprocess`).

Units and frames: depth in metres along the optical axis (released model: 0.001..10 m);
outward unit normals in the camera optical frame (x right, y down, z forward); class ids index
the model's class names (ADE20K-150); heatmaps: cosine in [-1, 1] (``softmax`` mode:
probabilities over queries).

A device out of memory drops the call's frames and halves the batch limit
(:meth:`Engine.infer_within`); :func:`load_engine` is the one loader of every command.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tips_ros.engine.acceleration import padded_batch
from tips_ros.engine.ade20k import label_palette
from tips_ros.engine.backend import Backend, HeadInputs, load_backend
from tips_ros.engine.config import EngineConfig, EngineStats, model_input_size, resolve_device
from tips_ros.engine.faults import FaultInjector
from tips_ros.engine.features import NO_QUERY, PcaProjector
from tips_ros.engine.postprocess import (DeviceOutputs, finish, Palettes, Reduction, rows,
                                         to_host)
from tips_ros.engine.prediction import (ALL_HEADS, BatchLimit, FEATURE_HEADS, HEADS, OutputSize,
                                        Prediction, VIEWS)
from tips_ros.engine.requirements import check_versions
from tips_ros.engine.text import TextEncoder
from tips_ros.errors import ModelLoadError, UsageError


class Engine:
    """Loads TIPSv2 (a backend for the vision side + the text tower) once and runs batches.

    The backend (:mod:`tips_ros.engine.backend`: torch or onnxruntime, ``config.backend``)
    turns model inputs into raw head outputs; everything else here is shared by both.

    Thread safety: ``infer`` and ``set_queries`` may be called from different threads; a lock
    serialises model use.
    """

    def __init__(self, config: EngineConfig) -> None:
        check_versions()  # torch/transformers too old: one sentence with the fix, nothing loaded
        config.validate()
        self.config = config
        self.device = resolve_device(config.device)
        self.backend: Backend = load_backend(config, self.device)
        self.dtype: torch.dtype = self.backend.dtype  # of the model input
        self.spec = self.backend.spec
        self.text = self._load_text()
        self.patch_size: int = self.spec.patch_size
        self.num_registers: int = self.spec.num_registers
        self.class_names: tuple[str, ...] = self.spec.class_names  # index = class id
        self.depth_range: tuple[float, float] = self.spec.depth_range  # metres
        self.stats = EngineStats()
        self._faults = FaultInjector()
        self._lock = threading.Lock()
        self._text_lock = threading.Lock()  # the text tower is used from set_queries and infer
        self._queries: tuple[str, ...] = ()
        self._text_embeddings = torch.zeros((0, self.spec.hidden_size), device=self.device)
        self._palettes = Palettes(
            classes=torch.from_numpy(label_palette(len(self.class_names))).to(self.device),
            queries=torch.zeros((0, 3), dtype=torch.uint8, device=self.device))
        self.pca = PcaProjector(config.pca_momentum)

    def _load_text(self) -> TextEncoder | None:
        """Load the text tower, whose width must be the backbone's (none for `tips-ros export`)."""
        config = self.config
        if not config.text_model:
            return None
        text = TextEncoder(
            config.text_model, self.device, self.dtype, allow_pickle=config.allow_pickle)
        if text.hidden_size != self.spec.hidden_size:
            raise ModelLoadError(
                f"text model '{config.text_model}' (width {text.hidden_size}) does not match "
                f"the vision backbone of the {self.backend.source} (width "
                f"{self.spec.hidden_size})"
            )
        return text

    # ------------------------------------------------------------------ the backend
    @property
    def heads(self) -> tuple[str, ...]:
        """Return the heads this engine can compute (their views come with them)."""
        return self.backend.heads

    @property
    def precision(self) -> str:
        """Return the precision the network computes in (``fp32``, ``bf16`` or ``fp16``)."""
        return self.backend.precision

    def has_head(self, name: str) -> bool:
        """Tell whether this engine computes head or view ``name`` (a view: its head)."""
        return VIEWS.get(name, name) in self.backend.heads

    def missing_heads(self, names: Collection[str]) -> list[str]:
        """Return the heads of ``names`` (views: their heads) this engine lacks, in head order."""
        return [head for head in ALL_HEADS
                if head in {VIEWS.get(name, name) for name in names} and not self.has_head(head)]

    def loaded_configs(self) -> tuple[Any, ...]:
        """Return the transformers configs of the loaded models (vision, if any, then text)."""
        text = (self.text.model.config,) if self.text is not None else ()
        return self.backend.model_configs() + text

    # ------------------------------------------------------------------ queries
    @property
    def queries(self) -> tuple[str, ...]:
        """Return the current text queries, in heatmap channel order."""
        return self._queries

    def set_queries(self, queries: Sequence[str], templates: Sequence[str] = ()) -> None:
        """Encode (or fetch from the cache) a new query set; used from the next frame on."""
        with self._text_lock:
            embeddings = self.text.encode(queries, templates)
        palette = torch.from_numpy(label_palette(len(queries))).to(self.device)
        with self._lock:
            self._queries = tuple(queries)
            self._text_embeddings = embeddings
            # zeroshot/color and heatmaps/color: one colour per query
            self._palettes = replace(self._palettes, queries=palette)

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def infer(self, images: Sequence[np.ndarray], heads: Collection[str] = HEADS,
              reductions: Sequence[Reduction | None] = ()) -> list[Prediction]:
        """Run the requested ``heads`` and ``VIEWS`` on RGB uint8 images (``HxWx3`` each).

        Returns one Prediction per image. A view implies its head. Images that share a model
        input size go through the backbone together (one pass per batch). Unknown names raise
        ValueError, and so do heads the backend lacks. A device out of memory raises
        ``torch.OutOfMemoryError`` (:meth:`infer_within` drops the batch instead).

        ``reductions[i]``, when given and not None, is applied on the device to image ``i``'s
        outputs (Prediction field -> tensor at the output size) before the download; the
        tensors it returns come back with the outputs, in the same one synchronisation, as
        ``Prediction.reductions`` (replay scores frames this way: a few sums per frame, not
        the maps, cross to the host).
        """
        unknown = set(heads) - set(ALL_HEADS) - set(VIEWS)
        if unknown:
            raise ValueError(
                f"unknown heads {sorted(unknown)}; choose from {ALL_HEADS + tuple(VIEWS)}")
        missing = self.missing_heads(heads)
        if missing:
            raise ValueError(f"heads {missing} are not in the {self.backend.source}; it has "
                             f"{list(self.heads)}")
        heads = set(heads) | {VIEWS[view] for view in set(heads) & set(VIEWS)}
        self._faults.before_infer()
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(
                    f"image {index}: expected HxWx3 uint8, got {image.shape} {image.dtype}")
            size = model_input_size(
                *image.shape[:2], self.config.input_size, self.config.keep_aspect)
            groups.setdefault(size, []).append(index)
        with self._lock:
            outputs: list[DeviceOutputs] = []
            for size, indices in groups.items():
                outputs += self._infer_group([images[i] for i in indices], indices, size, heads)
            for group in outputs:
                group.reduce(dict(enumerate(reductions)))
            queries = self._queries if heads & {"heatmaps", "zeroshot"} else ()
            return self.download(outputs, queries)

    def infer_within(self, limit: BatchLimit, images: Sequence[np.ndarray],
                     heads: Collection[str] = HEADS,
                     reductions: Sequence[Reduction | None] = ()) -> list[Prediction] | None:
        """:meth:`infer`, surviving a device out of memory: then None and ``limit`` says so.

        On ``torch.OutOfMemoryError`` the images are dropped (no outputs), the device cache is
        freed and ``limit`` records the event and halves itself (:meth:`BatchLimit.on_oom`);
        the caller sends at most ``limit.batch_limit`` frames per call from then on.
        """
        try:
            return self.infer(images, heads, reductions)
        except torch.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            limit.on_oom(len(images))
            return None

    def _infer_group(
        self, images: list[np.ndarray], indices: list[int], size: tuple[int, int], heads: set[str]
    ) -> list[DeviceOutputs]:
        """Run images of one model input ``size`` (h, w) pixels; outputs still on the device."""
        uploaded = self.upload(images)
        pixels = self.resize(uploaded, size)
        grid = (size[0] // self.patch_size, size[1] // self.patch_size)
        raw = self.raw_heads(pixels, grid, heads)
        self.stats.frames += len(images)
        return self.postprocess(raw, uploaded, heads, indices)

    def preprocess(self, images: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
        """Upload and resize images to ``size`` like Tipsv2ImageProcessor: (B, 3, h, w), 0..1."""
        return self.resize(self.upload(images), size)

    def upload(self, images: list[np.ndarray]) -> list[torch.Tensor]:
        """Copy HxWx3 uint8 images to the device (through pinned memory on CUDA)."""
        tensors = []
        for image in images:
            host = torch.from_numpy(np.ascontiguousarray(image))
            if self.device.type == "cuda":
                host = host.pin_memory()
            tensors.append(host.to(self.device, non_blocking=True))
        return tensors

    def resize(self, tensors: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """Device uint8 HxWx3 images -> (B, 3, h, w) model input in 0..1, in the model dtype."""
        out = []
        for tensor in tensors:  # per image: inputs of one group may differ in size
            chw = tensor.permute(2, 0, 1).unsqueeze(0).float()
            if tuple(chw.shape[-2:]) != size:
                chw = F.interpolate(
                    chw, size=size, mode="bilinear", align_corners=False, antialias=True)
                chw = chw.round_().clamp_(0, 255)
            out.append(chw)
        return (torch.cat(out) / 255.0).to(self.dtype)

    def raw_heads(
        self, pixels: torch.Tensor, grid: tuple[int, int], heads: Collection[str],
        text: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Model input ``(B, 3, h, w)`` in 0..1 -> each requested head's raw output.

        At head resolution: depth ``(B, h', w')`` metres, normals ``(B, 3, h', w')`` unit,
        segmentation ``(B, K, h', w')`` logits, heatmaps ``(B, Q, ph, pw)`` (``grid`` = (ph, pw)
        patches). ``text``: ``(Q, D)`` unit query embeddings for the heatmaps instead of the
        current query set's (the ONNX export makes them a graph input). One backbone pass of
        the backend (onnxruntime runs the exported graph of exactly this computation). A
        compiled engine runs the batch padded to
        :func:`~tips_ros.engine.acceleration.padded_batch` frames (repeating the last; the
        outputs are cut back), the sizes its warm-up compiled, so nothing compiles mid-stream.
        """
        count = pixels.shape[0]
        size = padded_batch(count) if self.config.compile != "none" else count
        if size > count:
            pixels = torch.cat([pixels, pixels[-1:].expand(size - count, *pixels.shape[1:])])
        self.stats.backbone_calls += 1
        raw = self._finish_heads(self.backend.raw_heads(pixels, self._inputs(grid, heads, text)))
        return raw if size == count else {name: value[:count] for name, value in raw.items()}

    def backbone(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run the torch backbone once on the model input; return its four DPT feature maps.

        ``pixels``: ``(B, 3, h, w)`` RGB in 0..1 in the engine's dtype (:meth:`preprocess`),
        ``h`` and ``w`` multiples of the patch size. The maps are the layer-normed outputs of
        the blocks in the backbone config's ``out_indices`` (3, 6, 9, 12 for B/14), each
        ``(B, 1 + R + ph * pw, D)`` tokens: the CLS token, the ``R`` register tokens, then the
        patches in row-major order (``ph, pw`` = ``h, w`` / patch size). The last map is the
        final block's, i.e. the vision model's ``last_hidden_state``. Counted in
        ``stats.backbone_calls``; the last block's input is kept for zero-shot. Backend torch
        only (onnxruntime runs backbone and heads as one graph, :meth:`raw_heads`).
        """
        features = self.backend.backbone(pixels)
        self.stats.backbone_calls += 1
        return features

    def run_heads(
        self, features: tuple[torch.Tensor, ...], grid: tuple[int, int], heads: Collection[str],
        text: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Compute the requested heads from the :meth:`backbone`'s feature maps.

        Outputs and ``text`` as :meth:`raw_heads`; the benchmark's stage profile calls it one
        head at a time.
        """
        return self._finish_heads(
            self.backend.run_heads(features, self._inputs(grid, heads, text)))

    def _inputs(self, grid: tuple[int, int], heads: Collection[str],
                text: torch.Tensor | None) -> HeadInputs:
        """Return what the backend's heads need besides the pixels (:class:`HeadInputs`)."""
        self.pca.momentum = self.config.pca_momentum  # a runtime parameter
        return HeadInputs(grid, heads, self._text_embeddings if text is None else text,
                          self._zeroshot_text, self.pca)

    def _zeroshot_text(self) -> torch.Tensor:
        """(Q, D) prompt-ensembled unit embeddings of the current queries, for zero-shot."""
        if len(self._queries) > NO_QUERY:
            raise ValueError(
                f"zeroshot takes at most {NO_QUERY} queries, got {len(self._queries)}")
        with self._text_lock:  # cached after the first frame of a query set
            return self.text.encode(self._queries, self.config.zeroshot_templates)

    def _finish_heads(self, raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Apply the heatmap mode and count the heads that ran."""
        if "heatmaps" in raw:
            raw["heatmaps"] = self._heatmap_mode(raw["heatmaps"])
        for head in raw:
            if head in self.stats.head_calls or head in FEATURE_HEADS:
                self.stats.head_calls[head] = self.stats.head_calls.get(head, 0) + 1
        return raw

    def _heatmap_mode(self, cosine: torch.Tensor) -> torch.Tensor:
        """(B, Q, ...) cosine similarities as configured: as is, or softmax across queries."""
        if self.config.heatmap_mode == "softmax" and cosine.shape[1]:
            return torch.softmax(cosine / self.config.heatmap_temperature, dim=1)
        return cosine

    def postprocess(
        self, raw: dict[str, torch.Tensor], images: Sequence[torch.Tensor],
        heads: Collection[str], indices: Sequence[int] | None = None,
    ) -> list[DeviceOutputs]:
        """Bring a batch's raw head outputs to each image's output size, on the device.

        ``raw``: as :meth:`raw_heads` (first dimension = ``images``); ``images``: the device
        ``HxWx3`` uint8 frames (:meth:`upload`). Images of one original size are upsampled
        to their output size (:meth:`output_shape`), reduced and coloured together
        (:func:`tips_ros.engine.postprocess.finish`), without waiting for the device.
        ``indices`` (default ``0..B-1``) are the positions recorded in the returned
        :class:`DeviceOutputs`.
        """
        indices = list(range(len(images))) if indices is None else list(indices)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for position, image in enumerate(images):
            by_shape.setdefault((int(image.shape[0]), int(image.shape[1])), []).append(position)
        heads, out = set(heads), []
        overlays = heads & {"heatmaps_color", "zeroshot_color"}  # the views drawn on the frames
        for shape, positions in by_shape.items():
            frames = torch.stack([images[p] for p in positions]) if overlays else None
            picked = {name: rows(tensor, positions) for name, tensor in raw.items()}
            tensors = finish(picked, frames, self.output_shape(*shape), heads, self._palettes,
                             self.config.zeroshot_threshold)
            out.append(DeviceOutputs([indices[p] for p in positions], tensors))
        return out

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """Return the outputs' ``(rows, columns)`` for a ``height x width`` camera image.

        ``config.output_size`` (:class:`~tips_ros.engine.prediction.OutputSize`) applied.
        """
        return OutputSize.parse(self.config.output_size).shape(height, width)

    def download(self, outputs: Sequence[DeviceOutputs],
                 queries: tuple[str, ...] = ()) -> list[Prediction]:
        """Copy every output to the host with ONE synchronisation; one Prediction per image.

        In ``indices`` order, each array a view of its group's batched host array
        (:func:`tips_ros.engine.postprocess.to_host`); counted in ``stats.host_syncs``.
        """
        predictions = to_host(list(outputs), self.device, queries)
        self.stats.host_syncs += 1
        return predictions

    def warmup(self, shapes: Sequence[tuple[int, int]] = ((480, 640),), batch: int = 1,
               heads: Collection[str] = HEADS + tuple(VIEWS)) -> None:
        """Run a few frames of each input ``(height, width)`` in pixels.

        Compilation, CUDA graph capture and allocator growth so happen now (at configure), not
        on the first camera frame. Engine counters are restored afterwards. Heads this engine
        lacks are left out.
        """
        heads = [h for h in heads if self.has_head(h)]
        saved = replace(self.stats, head_calls=dict(self.stats.head_calls))
        for height, width in shapes:
            images = [np.zeros((height, width, 3), np.uint8) + 127] * batch
            for _ in range(2):
                self.infer(images, heads)
        self.stats = saved
        self.pca.reset()  # grey warm-up frames must not seed the features/pca projection

    # ------------------------------------------------------------------ bookkeeping
    def device_memory(self) -> dict[str, int]:
        """Allocated and peak device memory in bytes (zeros on CPU)."""
        if self.device.type != "cuda":
            return {"allocated": 0, "peak": 0}
        return {
            "allocated": torch.cuda.memory_allocated(self.device),
            "peak": torch.cuda.max_memory_allocated(self.device),
        }

    def close(self) -> None:
        """Release the models and free cached device memory."""
        self.backend.close()
        del self.backend, self.text
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def load_engine(config: EngineConfig, needs: Collection[str] = (), *, user: str = "this run",
                queries: Sequence[str] = (), templates: Sequence[str] = (),
                warmup: bool = False) -> Engine:
    """Load the engine of ``config``, check it has ``needs``, set its queries, warm it up.

    The one loader of the node, replay, evaluate and the demo. ``needs``: heads and views the
    caller will ask for (``user`` names the caller in the message); ``warmup``: run
    :meth:`Engine.warmup`. Raises the loading error (``ModelLoadError``, one sentence), or
    ``UsageError`` when the backend lacks a needed head; a half-made engine is closed first.
    """
    engine = Engine(config)
    try:
        missing = engine.missing_heads(needs)
        if missing:  # backend onnxruntime: the file holds the heads it was exported with
            raise UsageError(f"the {engine.backend.source} lacks the heads {', '.join(missing)} "
                             f"that {user} needs (it has {', '.join(engine.heads)}); export "
                             f"them with tips-ros export --heads")
        if queries:
            engine.set_queries(queries, templates)
        if warmup:
            engine.warmup()
    except BaseException:  # the device failing during warm-up, the check above, Ctrl-C
        engine.close()
        raise
    return engine
