# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The TIPSv2 inference engine: one backbone pass per frame, only the requested heads.

No ROS imports: the node, ``tips-ros replay`` and the benchmarks all run this module. Data flow
for a batch of RGB uint8 images (each ``HxWx3``, any size):

1. upload (pinned host memory on CUDA), resize on the device to the model input size with
   bilinear antialiasing and rounding to uint8 levels, scale by 1/255 (this is what
   ``Tipsv2ImageProcessor`` does; no mean/std normalisation);
2. one pass of the TIPSv2 ViT backbone (:meth:`Engine.backbone`), returning the four
   layer-normed DPT feature maps; the last one is the vision model's ``last_hidden_state``;
3. the requested heads on those maps (:mod:`tips_ros.engine.heads`): DPT neck + decoder per
   head, the query cosine of the patch tokens, the feature heads;
4. on the device, per group of images of one original size: upsampling to that size, argmax,
   colour views; then every output copied to the host with one synchronisation per ``infer``
   call (:mod:`tips_ros.engine.postprocess`).

Units and frames: depth in metres along the optical axis (released model: 0.001..10 m); outward
unit normals in the camera optical frame (x right, y down, z forward); class ids index the model's
labels (ADE20K-150); heatmaps: cosine in [-1, 1] (``softmax`` mode: probabilities over queries).

Dense features, their PCA view, embeddings and zero-shot segmentation (:data:`FEATURE_HEADS`,
:mod:`tips_ros.engine.features`) come from the same pass (last block input: a pre-hook).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from tips_ros.engine.acceleration import accelerate
from tips_ros.engine.ade20k import label_palette
from tips_ros.engine.config import (EngineConfig, EngineStats, ModelSpec, model_input_size,
                                    resolve_device, resolve_dtype)
from tips_ros.engine.faults import FaultInjector
from tips_ros.engine.features import NO_QUERY, PcaProjector, token_heads, value_attention_tokens
from tips_ros.engine.heads import dpt_heads, patch_cosine
from tips_ros.engine.loading import load_pretrained
from tips_ros.engine.postprocess import DeviceOutputs, finish, Palettes, rows, to_host
from tips_ros.engine.prediction import ALL_HEADS, FEATURE_HEADS, HEADS, VIEWS, Prediction
from tips_ros.engine.requirements import check_versions
from tips_ros.engine.text import TextEncoder
from tips_ros.errors import ModelLoadError

if TYPE_CHECKING:  # imported where the model loads, after the version check
    from transformers import Tipsv2DptForDensePrediction

    from tips_ros.engine.onnx_backend import OnnxHeads


class Engine:
    """Loads TIPSv2 (DPT heads + text tower) once and runs batches of frames through it.

    Thread safety: ``infer`` and ``set_queries`` may be called from different threads; a lock
    serialises model use.
    """

    def __init__(self, config: EngineConfig) -> None:
        check_versions()  # torch/transformers too old: one sentence with the fix, nothing loaded
        config.validate()
        self.config = config
        self.device = resolve_device(config.device)
        self.model: Tipsv2DptForDensePrediction | None = None  # backend torch
        self.onnx: OnnxHeads | None = None  # backend onnxruntime
        self.dtype, self.spec = self._load_vision()
        self.text = self._load_text()
        self.patch_size: int = self.spec.patch_size
        self.num_registers: int = self.spec.num_registers
        self.labels: tuple[str, ...] = self.spec.labels
        self.depth_range: tuple[float, float] = self.spec.depth_range  # metres
        self._bins = torch.linspace(  # depth bin centres, metres
            *self.depth_range, self.spec.depth_bins, device=self.device, dtype=torch.float32)
        self.stats = EngineStats()
        self._faults = FaultInjector()
        self._lock = threading.Lock()
        self._text_lock = threading.Lock()  # the text tower is used from set_queries and infer
        self._queries: tuple[str, ...] = ()
        self._text_embeddings = torch.zeros((0, self.spec.hidden_size), device=self.device)
        self._palettes = Palettes(
            labels=torch.from_numpy(label_palette(len(self.labels))).to(self.device),
            queries=torch.zeros((0, 3), dtype=torch.uint8, device=self.device))
        self.pca = PcaProjector(config.pca_momentum)
        self._last_block_input: torch.Tensor | None = None
        self._hooks = self._add_hooks()
        if config.compile != "none" or config.channels_last:
            accelerate(self.model, config)

    def _load_vision(self) -> tuple[torch.dtype, ModelSpec]:
        """Load the backend's vision side; return the dtype it runs in and the model's spec."""
        config = self.config
        if config.backend == "onnxruntime":
            from tips_ros.engine.onnx_backend import OnnxHeads

            self.onnx = OnnxHeads(config, self.device)
            return torch.float32, self.onnx.spec  # the graph's inputs and outputs are fp32
        dtype = resolve_dtype(config.precision, self.device)
        from transformers import Tipsv2DptForDensePrediction

        self.model = load_pretrained(
            Tipsv2DptForDensePrediction, config.model, allow_pickle=config.allow_pickle,
            labelled=True)
        self.model.to(device=self.device, dtype=dtype).eval()
        return dtype, ModelSpec.of(self.model, config.model)

    def _load_text(self) -> TextEncoder | None:
        """Load the text tower, whose width must be the backbone's (none for `tips-ros export`)."""
        config = self.config
        if not config.text_model:
            return None
        text = TextEncoder(
            config.text_model, self.device, self.dtype, allow_pickle=config.allow_pickle)
        if text.hidden_size != self.spec.hidden_size:
            source = config.onnx_model if self.onnx is not None else config.model
            raise ModelLoadError(
                f"text model '{config.text_model}' (width {text.hidden_size}) does not match "
                f"the vision backbone of '{source}' (width {self.spec.hidden_size})"
            )
        return text

    def _add_hooks(self) -> list[torch.utils.hooks.RemovableHandle]:
        """Count backbone calls and capture the last block's input (backend torch)."""
        if self.model is None:
            return []
        backbone = self.model.backbone
        return [
            backbone.register_forward_hook(self._on_backbone),
            backbone.encoder.layer[-1].register_forward_pre_hook(self._on_last_block),
        ]

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
    def infer(self, images: Sequence[np.ndarray],
              heads: Collection[str] = HEADS) -> list[Prediction]:
        """Run the requested ``heads`` and ``VIEWS`` on RGB uint8 images (``HxWx3`` each).

        Returns one Prediction per image. A view implies its head. Images that share a model
        input size go through the backbone together (one pass per batch). Unknown names raise
        ValueError.
        """
        unknown = set(heads) - set(ALL_HEADS) - set(VIEWS)
        if unknown:
            raise ValueError(
                f"unknown heads {sorted(unknown)}; choose from {ALL_HEADS + tuple(VIEWS)}")
        heads = set(heads) | {VIEWS[view] for view in set(heads) & set(VIEWS)}
        missing = heads - set(self.heads) - set(VIEWS)
        if missing:
            raise ValueError(f"heads {sorted(missing)} are not in the ONNX file "
                             f"'{self.config.onnx_model}'; it has {list(self.heads)}")
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
            queries = self._queries if heads & {"heatmaps", "zeroshot"} else ()
            return self.download(outputs, queries)

    def _infer_group(
        self, images: list[np.ndarray], indices: list[int], size: tuple[int, int], heads: set[str]
    ) -> list[DeviceOutputs]:
        """Run images of one model input ``size`` (h, w) pixels; outputs still on the device."""
        uploaded = self.upload(images)
        pixels = self.resize(uploaded, size)
        grid = (size[0] // self.patch_size, size[1] // self.patch_size)
        raw = self.raw_heads(pixels, grid, heads)
        self._last_block_input = None
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

    @property
    def heads(self) -> tuple[str, ...]:
        """Return the heads this engine can compute (their views come with them)."""
        return self.onnx.heads if self.onnx is not None else ALL_HEADS

    def raw_heads(
        self, pixels: torch.Tensor, grid: tuple[int, int], heads: Collection[str],
        text: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Model input ``(B, 3, h, w)`` in 0..1 -> each requested head's raw output.

        At head resolution: depth ``(B, h', w')`` metres, normals ``(B, 3, h', w')`` unit,
        segmentation ``(B, K, h', w')`` logits, heatmaps ``(B, Q, ph, pw)`` (``grid`` = (ph, pw)
        patches). ``text``: ``(Q, D)`` unit query embeddings for the heatmaps instead of the
        current query set's (the ONNX export makes them a graph input). Backend ``onnxruntime``
        runs the exported graph of exactly this computation.
        """
        if self.onnx is None:
            return self.run_heads(self.backbone(pixels), grid, heads, text)
        self.stats.backbone_calls += 1
        raw = self.onnx.run(pixels, self._text_embeddings if text is None else text, heads)
        if "heatmaps" in raw:
            raw["heatmaps"] = self._heatmap_mode(raw["heatmaps"])
        self._count_heads(raw)
        return raw

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
        if self.model is None:
            raise RuntimeError("Engine.backbone needs backend torch; backend onnxruntime runs "
                               "backbone and heads as one graph (Engine.raw_heads)")
        self._last_block_input = None
        return self.model.backbone(pixels).feature_maps

    def run_heads(
        self, features: tuple[torch.Tensor, ...], grid: tuple[int, int], heads: Collection[str],
        text: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Compute the requested heads from the :meth:`backbone`'s feature maps.

        Outputs and ``text`` as :meth:`raw_heads`; the benchmark's stage profile calls it one
        head at a time.
        """
        raw = dpt_heads(self.model, features, grid, heads, self._bins, self.depth_range[0])
        last = features[-1]
        if "heatmaps" in heads:
            text = self._text_embeddings if text is None else text
            patches = last[:, 1 + self.num_registers:]
            raw["heatmaps"] = self._heatmap_mode(patch_cosine(patches, text, grid))
        self.pca.momentum = self.config.pca_momentum  # a runtime parameter
        raw.update(token_heads(last, grid, heads, self.num_registers, self.pca))
        if "zeroshot" in heads:
            raw["zeroshot"] = self._zeroshot(grid)
        self._count_heads(raw)
        return raw

    def _count_heads(self, raw: dict[str, torch.Tensor]) -> None:
        for head in raw:
            if head in self.stats.head_calls or head in FEATURE_HEADS:
                self.stats.head_calls[head] = self.stats.head_calls.get(head, 0) + 1

    def zeroshot_tokens(self) -> torch.Tensor:
        """Return the (B, N, D) value-attention patch tokens of the current pass.

        See :func:`tips_ros.engine.features.value_attention_tokens`.
        """
        if self._last_block_input is None:
            raise RuntimeError("the last block's input was not captured in this pass")
        backbone = self.model.backbone
        hidden = self._last_block_input[:, 1 + self.num_registers:]
        return value_attention_tokens(backbone.encoder.layer[-1], hidden, backbone.layernorm)

    def _zeroshot(self, grid: tuple[int, int]) -> torch.Tensor:
        """(B, Q, ph, pw) cosine of value-attention patch tokens with prompt-ensembled queries."""
        if len(self._queries) > NO_QUERY:
            raise ValueError(
                f"zeroshot takes at most {NO_QUERY} queries, got {len(self._queries)}")
        with self._text_lock:  # cached after the first frame of a query set
            text = self.text.encode(self._queries, self.config.zeroshot_templates)
        return patch_cosine(self.zeroshot_tokens(), text, grid)

    def _heatmap_mode(self, cosine: torch.Tensor) -> torch.Tensor:
        """(B, Q, ...) cosine similarities as configured: as is, or softmax across queries."""
        if self.config.heatmap_mode == "softmax" and cosine.shape[1]:
            return torch.softmax(cosine / self.config.heatmap_temperature, dim=1)
        return cosine

    def postprocess(
        self, raw: dict[str, torch.Tensor], images: Sequence[torch.Tensor],
        heads: Collection[str], indices: Sequence[int] | None = None,
    ) -> list[DeviceOutputs]:
        """Bring a batch's raw head outputs to each image's own size, on the device.

        ``raw``: as :meth:`raw_heads` (first dimension = ``images``); ``images``: the device
        ``HxWx3`` uint8 frames (:meth:`upload`). Images of one original size are upsampled,
        reduced and coloured together (:func:`tips_ros.engine.postprocess.finish`), without
        waiting for the device. ``indices`` (default ``0..B-1``) are the positions recorded
        in the returned :class:`DeviceOutputs`.
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
            tensors = finish(picked, frames, shape, heads, self._palettes,
                             self.config.zeroshot_threshold)
            out.append(DeviceOutputs([indices[p] for p in positions], tensors))
        return out

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
        heads = [h for h in heads if VIEWS.get(h, h) in self.heads]
        saved = replace(self.stats, head_calls=dict(self.stats.head_calls))
        for height, width in shapes:
            images = [np.zeros((height, width, 3), np.uint8) + 127] * batch
            for _ in range(2):
                self.infer(images, heads)
        self.stats = saved
        self.pca.reset()  # grey warm-up frames must not seed the features/pca projection

    # ------------------------------------------------------------------ bookkeeping
    def _on_backbone(self, *_: object) -> None:
        self.stats.backbone_calls += 1

    def _on_last_block(self, _module: object, args: tuple) -> None:
        """Keep a reference to the last block's input (no copy) for zero-shot segmentation."""
        self._last_block_input = args[0]

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
        for hook in self._hooks:
            hook.remove()
        del self.model, self.text, self.onnx
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
