# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The TIPSv2 inference engine: one backbone pass per frame, only the requested heads.

No ROS imports: the node, ``tips-ros replay`` and the benchmarks all run this module.

Data flow for a batch of RGB uint8 images (each ``HxWx3``, any size):

1. upload (pinned host memory on CUDA), resize on the device to the model input size with
   bilinear antialiasing and rounding to uint8 levels, scale by 1/255 (this is what
   ``Tipsv2ImageProcessor`` does; no mean/std normalisation);
2. one pass of the TIPSv2 ViT backbone, returning the four layer-normed DPT feature maps; the
   last one is the vision model's ``last_hidden_state``;
3. the DPT neck + decoder of each requested head (depth, normals, segmentation) and the
   cosine similarity of the L2-normalised patch tokens with the cached query embeddings;
4. upsampling to each input image's resolution, the per-pixel finish and the colour views on
   the device for the whole batch at once (images of one original size together; depth
   expectation and normal normalisation in fp32, argmax), then every output copied to the host
   with one synchronisation per ``infer`` call (:meth:`Engine.download`).

Units and frames: depth is metres along the camera's optical axis (the DPT head's expected
value over bins between ``min_depth`` and ``max_depth``, 0.001..10 m for the released model);
normals are outward unit normals in the camera optical frame (x right, y down, z forward; a
floor seen by a level camera has y < 0; the released head predicts their negative, flipped once
in :meth:`Engine.run_heads`); class ids
index the model's label list (ADE20K-150 for the released model); heatmaps are cosine
similarities in [-1, 1] (or softmax probabilities across queries in ``softmax`` mode).

Dense features, their PCA view, the global embeddings and zero-shot segmentation
(:data:`FEATURE_HEADS`, see :mod:`tips_ros.engine.features`) come from the same single pass: the
last feature map, plus the last block's input captured by a forward pre-hook.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from tips_ros.engine import colors
from tips_ros.engine.ade20k import label_palette
from tips_ros.engine.faults import FaultInjector
from tips_ros.engine.features import (
    NO_QUERY, ZEROSHOT_TEMPLATES, PcaProjector, colorize_zeroshot, normalised_embeddings,
    value_attention_tokens, zeroshot_ids,
)
from tips_ros.engine.loading import ModelLoadError, load_pretrained
from tips_ros.engine.prediction import (  # re-exported: defined without torch
    ALL_HEADS, BACKENDS, FEATURE_HEADS, HEADS, HEATMAP_MODES, PRECISION_NAMES, VIEWS, Prediction,
)
from tips_ros.engine.requirements import check_device, check_versions
from tips_ros.engine.text import TextEncoder

if TYPE_CHECKING:  # imported where the model loads, after the version check
    from transformers import Tipsv2DptForDensePrediction

#: Model precisions by name (PRECISION_NAMES) -> torch dtypes.
PRECISIONS = dict(zip(PRECISION_NAMES, (torch.float32, torch.bfloat16, torch.float16)))


@dataclass
class EngineConfig:
    """How to load and run the model. ``model``/``text_model``: hub id or local directory."""

    model: str = "google/tipsv2-b14-dpt"
    text_model: str = "google/tipsv2-b14"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto | bf16 | fp16 | fp32 (auto: bf16 on CUDA, fp32 on CPU)
    input_size: int = 448  # model input side in pixels (a multiple of 14)
    keep_aspect: bool = False  # True: short side = input_size, long side a multiple of 14
    heatmap_mode: str = "cosine"  # cosine | softmax (across queries)
    heatmap_temperature: float = 0.1  # softmax temperature, in cosine units
    allow_pickle: bool = False  # allow non-safetensors weights (explicit opt-in)
    compile: str = "none"  # none | default | reduce-overhead | max-autotune (torch.compile mode)
    channels_last: bool = False  # channels-last memory format for the DPT convolutions
    zeroshot_threshold: float = 0.0  # best cosine below this -> zeroshot id 255 (none)
    zeroshot_templates: tuple[str, ...] = ZEROSHOT_TEMPLATES  # prompt ensemble for zeroshot
    pca_momentum: float = 0.05  # weight of each new batch in the features/pca statistics
    backend: str = "torch"  # torch | onnxruntime (runs onnx_model instead of the torch model)
    onnx_model: str = ""  # file written by `tips-ros export` (backend onnxruntime)


@dataclass(frozen=True)
class ModelSpec:
    """What the engine needs to know about a DPT model besides its weights.

    Read from the transformers config (backend torch) or the ONNX file's metadata.
    """

    patch_size: int  # pixels per patch side
    num_registers: int  # register tokens after the CLS token
    hidden_size: int  # token width = text embedding width
    labels: tuple[str, ...]  # segmentation class names, index = class id
    depth_range: tuple[float, float]  # metres, first and last depth bin centre
    depth_bins: int

    @classmethod
    def of(cls, model: Tipsv2DptForDensePrediction, ref: str) -> ModelSpec:
        """The spec of a loaded model (``ref`` names it in errors)."""
        cfg, backbone = model.config, model.config.backbone_config
        if backbone.out_indices[-1] != backbone.num_hidden_layers:
            raise ModelLoadError(
                f"model '{ref}' takes its last DPT feature from block "
                f"{backbone.out_indices[-1]}, not the final block; heatmaps need the final block"
            )
        return cls(
            patch_size=backbone.patch_size, num_registers=backbone.num_register_tokens,
            hidden_size=backbone.hidden_size,
            labels=tuple(cfg.id2label[i] for i in range(cfg.num_labels)),
            depth_range=(float(cfg.min_depth), float(cfg.max_depth)),
            depth_bins=cfg.num_depth_bins,
        )


@dataclass
class EngineStats:
    """Counters that tests and diagnostics read (how much work was really done)."""

    backbone_calls: int = 0
    frames: int = 0
    #: calls per head; FEATURE_HEADS appear once they have run
    head_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HEADS, 0))
    #: points where the host waited for the device's results: one per ``infer`` call (on the
    #: CPU the same point, where the outputs become numpy arrays, is counted though no wait)
    host_syncs: int = 0


@dataclass
class DeviceOutputs:
    """Post-processed outputs of the images of one original size, still on the device.

    ``indices`` are the images' positions in the ``infer`` call; ``tensors`` maps Prediction
    field names to batched tensors whose first dimension follows ``indices``.
    """

    indices: list[int]
    tensors: dict[str, torch.Tensor]


def upsample(tensor: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (half-pixel centres) of ``(B, C, h, w)`` to ``shape`` = (H, W).

    ``C`` may be 0 (no queries): the result is then an empty ``(B, 0, H, W)`` tensor.
    """
    if tensor.shape[1] == 0:
        return tensor.new_empty((tensor.shape[0], 0, *shape))
    return F.interpolate(tensor, size=shape, mode="bilinear", align_corners=False)


def upsample_normals(normals: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``(B, 3, h, w)`` normals -> ``(B, 3, H, W)`` unit normals, the authors' recipe (their
    notebook): normalise, bicubic (half-pixel centres), normalise, in fp32.

    The project's one normals upsampling. Bilinear instead differs by 0.25-0.29 deg p50,
    2.5-3.0 deg p99, up to 12 deg (tiny and B/14 random weights, 448 -> 640x480) and
    costs the same on the CPU (docs/models.md).
    """
    unit = F.normalize(normals.float(), dim=1)
    return F.normalize(F.interpolate(unit, size=shape, mode="bicubic", align_corners=False), dim=1)


def upsampled_argmax(logits: torch.Tensor, shape: tuple[int, int], chunk: int = 16) -> torch.Tensor:
    """``argmax`` over classes of the bilinearly upsampled ``(B, K, h, w)`` logits, ``(B, H, W)``.

    Equal to ``upsample(logits, shape).argmax(1)`` (ties to the lower class id), but
    upsamples ``chunk`` classes at a time, so memory is ``B x chunk x H x W`` instead of
    ``B x K x H x W`` (150 classes at 640x480 would be 184 MB of fp32 per frame).
    """
    best_value = best_index = None
    for start in range(0, logits.shape[1], chunk):
        value, index = upsample(logits[:, start : start + chunk].float(), shape).max(dim=1)
        if best_value is None:
            best_value, best_index = value, index
        else:
            better = value > best_value
            best_value = torch.where(better, value, best_value)
            best_index = torch.where(better, index + start, best_index)
    return best_index


def _rows(tensor: torch.Tensor, positions: list[int]) -> torch.Tensor:
    """Rows ``positions`` of a batched tensor: a view for a contiguous run, else gathered on
    the tensor's device (no host index tensor to upload)."""
    if positions == list(range(positions[0], positions[-1] + 1)):
        return tensor[positions[0] : positions[-1] + 1]
    return torch.cat([tensor[p : p + 1] for p in positions])


def resolve_device(name: str) -> torch.device:
    """``auto`` -> first CUDA device if available, else CPU. An unusable ``cuda``/``cuda:N``
    (CPU-only torch, no GPU, no such index) raises RequirementError with the fix."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        check_device(name)
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ModelLoadError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N")


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bf16 on CUDA devices that support it, else fp32."""
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown precision '{precision}'; use auto, bf16, fp16 or fp32")
    return PRECISIONS[precision]


def model_input_size(height: int, width: int, side: int, keep_aspect: bool) -> tuple[int, int]:
    """The ``(height, width)`` the model sees for an input of ``height x width`` pixels.

    Square ``side x side`` by default (as ``Tipsv2ImageProcessor``). With ``keep_aspect`` the
    short side is ``side`` and the long side is the nearest multiple of 14 to the scaled
    length (480x640 -> 448x602).
    """
    if not keep_aspect:
        return side, side
    scale = side / min(height, width)
    patch = 14
    h = max(patch, round(height * scale / patch) * patch)
    w = max(patch, round(width * scale / patch) * patch)
    return h, w


class Engine:
    """Loads TIPSv2 (DPT heads + text tower) once and runs batches of frames through it.

    Thread safety: ``infer`` and ``set_queries`` may be called from different threads; a lock
    serialises model use.
    """

    def __init__(self, config: EngineConfig) -> None:
        check_versions()  # torch/transformers too old: one sentence with the fix, nothing loaded
        if config.input_size % 14 or config.input_size < 14:
            raise ModelLoadError(f"input_size {config.input_size} is not a positive multiple of 14")
        if config.heatmap_mode not in HEATMAP_MODES:
            raise ModelLoadError(f"heatmap_mode must be one of {HEATMAP_MODES}")
        if config.backend not in BACKENDS:
            raise ModelLoadError(
                f"backend must be one of {', '.join(BACKENDS)}, not '{config.backend}'")
        self.config = config
        self.device = resolve_device(config.device)
        self.model: Tipsv2DptForDensePrediction | None = None
        self.onnx = None  # tips_ros.engine.onnx_backend.OnnxHeads with backend onnxruntime
        if config.backend == "onnxruntime":
            from tips_ros.engine.onnx_backend import OnnxHeads

            self.onnx = OnnxHeads(config, self.device)
            self.dtype = torch.float32  # the graph's inputs and outputs are fp32
            spec = self.onnx.spec
        else:
            self.dtype = resolve_dtype(config.precision, self.device)
            from transformers import Tipsv2DptForDensePrediction

            self.model = load_pretrained(
                Tipsv2DptForDensePrediction, config.model, allow_pickle=config.allow_pickle
            )
            self.model.to(device=self.device, dtype=self.dtype).eval()
            spec = ModelSpec.of(self.model, config.model)
        self.text = TextEncoder(  # no text tower (text_model "") only for `tips-ros export`
            config.text_model, self.device, self.dtype, allow_pickle=config.allow_pickle
        ) if config.text_model else None
        source = config.onnx_model if self.onnx is not None else config.model
        if self.text is not None and self.text.hidden_size != spec.hidden_size:
            raise ModelLoadError(
                f"text model '{config.text_model}' (width {self.text.hidden_size}) does not match "
                f"the vision backbone of '{source}' (width {spec.hidden_size})"
            )
        self.spec = spec
        self.patch_size: int = spec.patch_size
        self.num_registers: int = spec.num_registers
        self.labels: tuple[str, ...] = spec.labels
        self._bins = torch.linspace(
            *spec.depth_range, spec.depth_bins, device=self.device, dtype=torch.float32
        )
        self._min_depth = spec.depth_range[0]
        self.depth_range: tuple[float, float] = spec.depth_range
        self._palette = torch.from_numpy(label_palette(len(self.labels))).to(self.device)
        self.stats = EngineStats()
        self._faults = FaultInjector()
        self._lock = threading.Lock()
        self._queries: tuple[str, ...] = ()
        self._templates: tuple[str, ...] = ()
        self._text_embeddings = torch.zeros((0, spec.hidden_size), device=self.device)
        self._query_palette = torch.zeros((0, 3), dtype=torch.uint8, device=self.device)
        self._text_lock = threading.Lock()  # the text tower is used from set_queries and infer
        self.pca = PcaProjector(config.pca_momentum)
        self._last_block_input: torch.Tensor | None = None
        self._hooks = []
        if self.model is not None:
            self._hooks = [
                self.model.backbone.register_forward_hook(self._on_backbone),
                self.model.backbone.encoder.layer[-1].register_forward_pre_hook(self._on_last_block),
            ]
        if config.compile != "none" or config.channels_last:
            from tips_ros.engine.acceleration import accelerate

            accelerate(self)

    # ------------------------------------------------------------------ queries
    @property
    def queries(self) -> tuple[str, ...]:
        """The current text queries, in heatmap channel order."""
        return self._queries

    def set_queries(self, queries: Sequence[str], templates: Sequence[str] = ()) -> None:
        """Encode (or fetch from the cache) a new query set; used from the next frame on."""
        with self._text_lock:
            embeddings = self.text.encode(queries, templates)
        palette = torch.from_numpy(label_palette(len(queries))).to(self.device)
        with self._lock:
            self._queries, self._templates = tuple(queries), tuple(templates)
            self._text_embeddings = embeddings
            self._query_palette = palette  # zeroshot/color: one colour per query

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def infer(self, images: Sequence[np.ndarray], heads: Collection[str] = HEADS) -> list[Prediction]:
        """Run the requested ``heads`` and ``VIEWS`` on RGB uint8 images (``HxWx3`` each).

        Returns one Prediction per image. A view implies its head. Images that share a model
        input size go through the backbone together (one pass per batch). Unknown names raise
        ValueError.
        """
        unknown = set(heads) - set(ALL_HEADS) - set(VIEWS)
        if unknown:
            raise ValueError(f"unknown heads {sorted(unknown)}; choose from {ALL_HEADS + tuple(VIEWS)}")
        heads = set(heads) | {VIEWS[view] for view in set(heads) & set(VIEWS)}
        if heads - set(self.heads) - set(VIEWS):
            raise ValueError(f"heads {sorted(heads - set(self.heads) - set(VIEWS))} are not in "
                             f"the ONNX file '{self.config.onnx_model}'; it has {list(self.heads)}")
        self._faults.before_infer()
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"image {index}: expected HxWx3 uint8, got {image.shape} {image.dtype}")
            size = model_input_size(*image.shape[:2], self.config.input_size, self.config.keep_aspect)
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
        uploaded = self.upload(images)
        pixels = self.resize(uploaded, size)
        grid = (size[0] // self.patch_size, size[1] // self.patch_size)
        raw = self.raw_heads(pixels, grid, heads)
        self._last_block_input = None
        self.stats.frames += len(images)
        return self.postprocess(raw, uploaded, heads, indices)

    def preprocess(self, images: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
        """Upload and resize images to ``size`` like Tipsv2ImageProcessor; (B, 3, h, w) in 0..1."""
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
                chw = F.interpolate(chw, size=size, mode="bilinear", align_corners=False, antialias=True)
                chw = chw.round_().clamp_(0, 255)
            out.append(chw)
        return (torch.cat(out) / 255.0).to(self.dtype)

    @property
    def heads(self) -> tuple[str, ...]:
        """The heads this engine can compute (their views come with them)."""
        return self.onnx.heads if self.onnx is not None else ALL_HEADS

    def raw_heads(
        self, pixels: torch.Tensor, grid: tuple[int, int], heads: set[str]
    ) -> dict[str, torch.Tensor]:
        """Model input ``(B, 3, h, w)`` in 0..1 -> each requested head's raw output.

        At head resolution: depth ``(B, h', w')`` metres, normals ``(B, 3, h', w')`` unit,
        segmentation ``(B, K, h', w')`` logits, heatmaps ``(B, Q, ph, pw)`` (``grid`` = (ph, pw)
        patches). Backend ``onnxruntime`` runs the exported graph of exactly this computation.
        """
        if self.onnx is not None:
            self.stats.backbone_calls += 1
            raw = self.onnx.run(pixels, self._text_embeddings, heads)
            if "heatmaps" in raw:
                raw["heatmaps"] = self._heatmap_mode(raw["heatmaps"])
            self._count_heads(raw)
            return raw
        self._last_block_input = None
        return self.run_heads(self.model.backbone(pixels).feature_maps, grid, heads)

    def run_heads(
        self, features: tuple[torch.Tensor, ...], grid: tuple[int, int], heads: set[str]
    ) -> dict[str, torch.Tensor]:
        """The torch backbone's four feature maps -> the requested heads' raw outputs (as
        :meth:`raw_heads`); the benchmark's stage profile calls it one head at a time."""
        model, raw = self.model, {}
        ph, pw = grid
        if "depth" in heads:
            logits = model.depth_decoder(model.depth_neck(features, ph, pw)[-1]).float()
            probs = F.relu(logits) + self._min_depth
            probs = probs / probs.sum(dim=1, keepdim=True)
            raw["depth"] = torch.einsum("bkhw,k->bhw", probs, self._bins)
        if "normals" in heads:
            normals = model.normals_decoder(model.normals_neck(features, ph, pw)[-1]).float()
            # The released TIPSv2 normals head predicts the NEGATIVE of the outward (REP 103)
            # normal in the optical frame: the authors' notebook shows floors with y > 0 and
            # walls facing the camera with z > 0 (../shared/evidence/README.md, docs/models.md).
            # The one sign flip of the project, here where the head's output is interpreted
            # (also traced into ONNX exports): published normals point out of the surface.
            raw["normals"] = -F.normalize(normals, dim=1)
        if "segmentation" in heads:
            raw["segmentation"] = model.segmentation_decoder(
                model.segmentation_neck(features, ph, pw)[-1]
            ).float()
        if "heatmaps" in heads:
            raw["heatmaps"] = self._heatmaps(features[-1], grid)
        last = features[-1]
        if "features" in heads:
            patches = last[:, 1 + self.num_registers :]
            raw["features"] = patches.reshape(patches.shape[0], *grid, patches.shape[-1])
            if "features_pca" in heads:
                self.pca.momentum = self.config.pca_momentum
                self.pca.update(patches.reshape(-1, patches.shape[-1]))
                colours = self.pca.project(patches)  # (B, N, 3) in 0..1
                raw["features_pca"] = colours.permute(0, 2, 1).reshape(colours.shape[0], 3, *grid)
        if "embedding" in heads:
            raw["embedding"] = normalised_embeddings(last, self.num_registers)
        if "zeroshot" in heads:
            raw["zeroshot"] = self._zeroshot(grid)
        self._count_heads(raw)
        return raw

    def _count_heads(self, raw: dict[str, torch.Tensor]) -> None:
        for head in raw:
            if head in self.stats.head_calls or head in FEATURE_HEADS:
                self.stats.head_calls[head] = self.stats.head_calls.get(head, 0) + 1

    def zeroshot_tokens(self) -> torch.Tensor:
        """(B, N, D) value-attention patch tokens of the current pass (see tips_ros.engine.features)."""
        if self._last_block_input is None:
            raise RuntimeError("the last block's input was not captured in this pass")
        backbone = self.model.backbone
        hidden = self._last_block_input[:, 1 + self.num_registers :]
        return value_attention_tokens(backbone.encoder.layer[-1], hidden, backbone.layernorm)

    def _zeroshot(self, grid: tuple[int, int]) -> torch.Tensor:
        """(B, Q, ph, pw) cosine of value-attention patch tokens with prompt-ensembled queries."""
        if len(self._queries) > NO_QUERY:
            raise ValueError(f"zeroshot takes at most {NO_QUERY} queries, got {len(self._queries)}")
        with self._text_lock:  # cached after the first frame of a query set
            text = self.text.encode(self._queries, self.config.zeroshot_templates)
        tokens = F.normalize(self.zeroshot_tokens().float(), dim=-1)
        scores = torch.einsum("bnd,qd->bqn", tokens, text)
        return scores.reshape(scores.shape[0], scores.shape[1], *grid)

    def _heatmaps(self, last: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(B, Q, ph, pw) similarity of each patch token to each query embedding."""
        patches = F.normalize(last[:, 1 + self.num_registers :].float(), dim=-1)
        scores = torch.einsum("bnd,qd->bqn", patches, self._text_embeddings)
        return self._heatmap_mode(scores.reshape(scores.shape[0], scores.shape[1], *grid))

    def _heatmap_mode(self, cosine: torch.Tensor) -> torch.Tensor:
        """(B, Q, ...) cosine similarities as configured: as is, or softmax across queries."""
        if self.config.heatmap_mode == "softmax" and cosine.shape[1]:
            return torch.softmax(cosine / self.config.heatmap_temperature, dim=1)
        return cosine

    def postprocess(
        self, raw: dict[str, torch.Tensor], images: Sequence[torch.Tensor], heads: Collection[str],
        indices: Sequence[int] | None = None,
    ) -> list[DeviceOutputs]:
        """Raw head outputs of a batch (first dimension = ``images``) -> outputs at each image's
        own size with the requested views, on the device, without waiting for it.

        ``images`` are the device ``HxWx3`` uint8 frames (:meth:`upload`); images of one
        original size are upsampled, reduced and coloured together. ``indices`` (default
        ``0..B-1``) are the positions recorded in the returned :class:`DeviceOutputs`.
        """
        indices = list(range(len(images))) if indices is None else list(indices)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for position, image in enumerate(images):
            by_shape.setdefault((int(image.shape[0]), int(image.shape[1])), []).append(position)
        heads, out = set(heads), []
        overlays = heads & {"heatmaps_color", "zeroshot_color"}  # the views drawn on the frames
        for shape, positions in by_shape.items():
            frames = torch.stack([images[p] for p in positions]) if overlays else None
            picked = {name: _rows(tensor, positions) for name, tensor in raw.items()}
            out.append(DeviceOutputs([indices[p] for p in positions],
                                     self._finish(picked, frames, shape, heads)))
        return out

    def _finish(self, raw: dict[str, torch.Tensor], frames: torch.Tensor | None,
                shape: tuple[int, int], heads: set[str]) -> dict[str, torch.Tensor]:
        """One size group: ``raw`` rows and ``frames`` ``(b, H, W, 3)`` uint8 (needed for the
        overlay views only) -> Prediction field name -> batched device tensor."""
        out: dict[str, torch.Tensor] = {}
        if "depth" in heads:
            out["depth"] = upsample(raw["depth"][:, None], shape)[:, 0]
        if "normals" in heads:
            out["normals"] = upsample_normals(raw["normals"], shape).permute(0, 2, 3, 1)
            if "normals_color" in heads:
                out["normals_color"] = colors.colorize_normals(out["normals"])
        if "segmentation" in heads:
            labels = upsampled_argmax(raw["segmentation"], shape)
            wide = raw["segmentation"].shape[1] > 256  # ids beyond uint8: uint16 on the host
            out["labels"] = labels.to(torch.int32 if wide else torch.uint8)
            if "segmentation_color" in heads:
                out["segmentation_color"] = colors.colorize_labels(labels, self._palette)
        if "heatmaps" in heads:
            heatmaps = upsample(raw["heatmaps"], shape)
            out["heatmaps"] = heatmaps.permute(0, 2, 3, 1)
            if "heatmaps_color" in heads:
                out["heatmaps_color"] = colors.overlay_heatmaps(
                    frames, heatmaps, palette=self._query_palette)
        if "features" in heads:
            out["features"] = raw["features"].float()
            if "features_pca" in heads:
                pca = upsample(raw["features_pca"], shape).permute(0, 2, 3, 1)
                out["features_pca"] = (pca * 255).round().clamp(0, 255).to(torch.uint8)
        if "embedding" in heads:
            out["embedding"] = raw["embedding"]
        if "zeroshot" in heads:
            scores = upsample(raw["zeroshot"], shape)
            ids = torch.stack([zeroshot_ids(s, self.config.zeroshot_threshold) for s in scores])
            out["zeroshot"] = ids
            if "zeroshot_color" in heads:
                out["zeroshot_color"] = colorize_zeroshot(frames, ids, self._query_palette)
        return out

    def download(self, outputs: Sequence[DeviceOutputs],
                 queries: tuple[str, ...] = ()) -> list[Prediction]:
        """Copy every output tensor to the host with ONE synchronisation; one Prediction per
        image (in ``indices`` order), each array a view of its group's batched host array.

        On CUDA the copies go non-blocking into pinned host tensors (torch's caching host
        allocator hands the same pinned blocks out again once the arrays are released), then
        the stream is synchronised once. On the CPU the tensors already are host memory: no
        copy beyond making them contiguous.
        """
        tensors = [t for group in outputs for t in group.tensors.values()]
        if self.device.type == "cuda":
            hosts = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in tensors]
            for host, tensor in zip(hosts, tensors):
                host.copy_(tensor, non_blocking=True)
            torch.cuda.current_stream(self.device).synchronize()
        else:
            hosts = [t.contiguous() for t in tensors]
        self.stats.host_syncs += 1
        arrays = iter([host.numpy() for host in hosts])
        predictions: dict[int, Prediction] = {}
        for group in outputs:
            batch = {name: next(arrays) for name in group.tensors}
            if "labels" in batch and batch["labels"].dtype != np.uint8:
                batch["labels"] = batch["labels"].astype(np.uint16)
            for row, index in enumerate(group.indices):
                predictions[index] = Prediction(
                    queries=queries, **{name: array[row] for name, array in batch.items()})
        return [predictions[i] for i in sorted(predictions)]

    def warmup(self, shapes: Sequence[tuple[int, int]] = ((480, 640),), batch: int = 1,
               heads: Collection[str] = HEADS + tuple(VIEWS)) -> None:
        """Run a few frames of each input ``(height, width)`` so compilation, CUDA graph
        capture and allocator growth happen now (at configure), not on the first camera frame.
        Engine counters are restored afterwards. Heads this engine lacks are left out."""
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

