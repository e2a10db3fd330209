# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""How the engine is configured and what it knows about a model, before any weights load.

:class:`EngineConfig` (the user's choices), :class:`ModelSpec` (a model's patch size, token
layout, labels and depth bins), :class:`EngineStats` (work counters), and the resolution of
``device``/``precision`` names and of the model input size of a camera image. Shared by the
engine, its two backends and the accelerations; imports no other engine module but
:mod:`tips_ros.engine.prediction` (head and precision names),
:mod:`tips_ros.engine.parameters` (the defaults) and :mod:`tips_ros.engine.requirements`
(the device check).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from tips_ros.engine.parameters import DEFAULTS, SPECS, engine_value
from tips_ros.engine.prediction import BACKENDS, HEADS, HEATMAP_MODES, OutputSize, PRECISION_NAMES
from tips_ros.engine.requirements import check_device
from tips_ros.errors import ModelLoadError

if TYPE_CHECKING:  # imported where the model loads, after the version check
    from transformers import Tipsv2DptForDensePrediction

#: Model precisions by name (PRECISION_NAMES) -> torch dtypes.
PRECISIONS = dict(zip(PRECISION_NAMES, (torch.float32, torch.bfloat16, torch.float16)))
#: Key of the class names in the ONNX metadata's spec JSON (files keep their original key).
_FILE_CLASS_NAMES = "labels"
#: Pixels per patch side of every TIPSv2 model (the model input is a multiple of it).
PATCH = 14


@dataclass
class EngineConfig:
    """How to load and run the model. ``model``/``text_model``: hub id or local directory.

    Field names and defaults are those of the node parameters (:mod:`.parameters`).
    """

    model: str = DEFAULTS["model"]
    text_model: str = DEFAULTS["text_model"]
    device: str = DEFAULTS["device"]  # auto | cpu | cuda | cuda:N
    precision: str = DEFAULTS["precision"]  # auto | bf16 | fp16 | fp32 (auto: bf16 on CUDA)
    input_size: int = DEFAULTS["input_size"]  # model input side in pixels (a multiple of 14)
    keep_aspect: bool = DEFAULTS["keep_aspect"]  # True: short side = input_size
    output_size: str = DEFAULTS["output_size"]  # input | WxH | a scale: prediction.OutputSize
    heatmap_mode: str = DEFAULTS["heatmap_mode"]  # cosine | softmax (across queries)
    heatmap_temperature: float = DEFAULTS["heatmap_temperature"]  # in cosine units
    allow_pickle: bool = DEFAULTS["allow_pickle"]  # allow non-safetensors weights (opt-in)
    # none | default | reduce-overhead | max-autotune (torch.compile mode); the name is the
    # node parameter's and the CLI option's, so it keeps shadowing the builtin
    compile: str = DEFAULTS["compile"]  # noqa: A003
    channels_last: bool = DEFAULTS["channels_last"]  # channels-last DPT convolutions
    # torch.compile backend: inductor (what users run), or eager / aot_eager to check Dynamo's
    # tracing and recompiles on a CPU without generating code (the bench's CPU rehearsal)
    compile_backend: str = "inductor"
    zeroshot_threshold: float = DEFAULTS["zeroshot_threshold"]  # best cosine below -> id 255
    zeroshot_templates: tuple[str, ...] = DEFAULTS["zeroshot_templates"]  # prompt ensemble
    pca_momentum: float = DEFAULTS["pca_momentum"]  # weight of each batch in features/pca
    backend: str = DEFAULTS["backend"]  # torch | onnxruntime (runs onnx_model)
    onnx_model: str = DEFAULTS["onnx_model"]  # file written by `tips-ros export`

    @classmethod
    def from_params(cls, params: Any) -> EngineConfig:
        """Return the configuration in ``params`` (a NodeParams): the specs marked ``engine``."""
        return cls(**{spec.name: engine_value(spec.name, getattr(params, spec.name))
                      for spec in SPECS if spec.engine})

    def validate(self) -> None:
        """Raise ModelLoadError (one sentence) for an input size, mode or backend out of range.

        ``device``, ``precision`` and ``compile`` are checked where they are resolved.
        """
        if self.input_size % PATCH or self.input_size < PATCH:
            raise ModelLoadError(
                f"input_size {self.input_size} is not a positive multiple of {PATCH}")
        try:
            OutputSize.parse(self.output_size)
        except ValueError as err:
            raise ModelLoadError(str(err)) from None
        if self.heatmap_mode not in HEATMAP_MODES:
            raise ModelLoadError(f"heatmap_mode must be one of {HEATMAP_MODES}")
        if self.backend not in BACKENDS:
            raise ModelLoadError(
                f"backend must be one of {', '.join(BACKENDS)}, not '{self.backend}'")


@dataclass(frozen=True)
class ModelSpec:
    """What the engine needs to know about a DPT model besides its weights.

    Read from the transformers config (backend torch) or the ONNX file's metadata.
    """

    patch_size: int  # pixels per patch side
    num_registers: int  # register tokens after the CLS token
    hidden_size: int  # token width = text embedding width
    class_names: tuple[str, ...]  # segmentation class names, index = class id
    depth_range: tuple[float, float]  # metres, first and last depth bin centre
    depth_bins: int

    def to_json(self) -> str:
        """Return the spec as the ONNX metadata's JSON (class names under their file key)."""
        fields = asdict(self)
        fields[_FILE_CLASS_NAMES] = list(fields.pop("class_names"))
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Read a spec written by :meth:`to_json` (the ONNX metadata ``tips_ros.spec``)."""
        fields = json.loads(text)
        class_names = tuple(fields.pop(_FILE_CLASS_NAMES))
        return cls(**{**fields, "class_names": class_names,
                      "depth_range": tuple(fields["depth_range"])})

    @classmethod
    def of(cls, model: Tipsv2DptForDensePrediction, ref: str) -> ModelSpec:
        """Read the spec of a loaded model (``ref`` names it in errors)."""
        cfg, backbone = model.config, model.config.backbone_config
        if backbone.out_indices[-1] != backbone.num_hidden_layers:
            raise ModelLoadError(
                f"model '{ref}' takes its last DPT feature from block "
                f"{backbone.out_indices[-1]}, not the final block; heatmaps need the final block"
            )
        return cls(
            patch_size=backbone.patch_size, num_registers=backbone.num_register_tokens,
            hidden_size=backbone.hidden_size,
            class_names=tuple(cfg.id2label[i] for i in range(cfg.num_labels)),
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


def resolve_device(name: str) -> torch.device:
    """Map ``auto`` to the first CUDA device if available, else the CPU.

    An unusable ``cuda``/``cuda:N`` (CPU-only torch, no GPU, no such index) raises
    RequirementError with the fix; an unknown name raises ModelLoadError.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        check_device(name)
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ModelLoadError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N")


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """Map a precision name to a dtype; ``auto`` is bf16 on CUDA devices that support it."""
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown precision '{precision}'; use auto, bf16, fp16 or fp32")
    return PRECISIONS[precision]


def precision_name(dtype: torch.dtype) -> str:
    """Return the precision name (a ``PRECISION_NAMES`` entry) of a model dtype."""
    return next(name for name, value in PRECISIONS.items() if value == dtype)


def model_input_size(height: int, width: int, side: int, keep_aspect: bool) -> tuple[int, int]:
    """Return the ``(height, width)`` in pixels the model sees for a ``height x width`` image.

    Square ``side x side`` by default (as ``Tipsv2ImageProcessor``). With ``keep_aspect`` the
    short side is ``side`` and the long side is the nearest multiple of 14 to the scaled
    length (480x640 -> 448x602).
    """
    if not keep_aspect:
        return side, side
    scale = side / min(height, width)
    h = max(PATCH, round(height * scale / PATCH) * PATCH)
    w = max(PATCH, round(width * scale / PATCH) * PATCH)
    return h, w
