# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Engine backend ``onnxruntime``: runs the graph written by ``tips-ros export``.

Implements :class:`tips_ros.engine.backend.Backend`. The graph replaces the torch model's
pixels -> raw head outputs step (:meth:`tips_ros.engine.engine.Engine.raw_heads`); the engine's
resize, upsampling, argmax and colour views stay shared by both backends. The file carries its
own weights, labels and depth range (metadata, see :mod:`tips_ros.engine.onnx_export`), so the
torch DPT model is not loaded; the text tower still runs in torch (queries are encoded once per
query set and fed as a graph input).

Execution providers, first present wins: TensorRT (engine cache on disk next to the file, so a
robot builds it once), CUDA, then CPU; a session that did not get them raises
(:func:`check_providers`). Inputs and outputs are bound to torch tensors on the engine's device
(no host round trip on CUDA), and the GPU providers run on torch's CUDA stream (no host wait
between torch's kernels and the graph).

Every mismatch between the file and the engine configuration raises
:class:`~tips_ros.engine.loading.ModelLoadError` with one sentence naming it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TYPE_CHECKING

import numpy as np
import torch

from tips_ros.engine.config import ModelSpec
from tips_ros.engine.onnx_format import (
    FORMAT, META_BATCH, META_EMBEDDING_DIM, META_FORMAT, META_HEADS, META_INPUT_SIZE,
    META_PRECISION, META_SPEC, OPSET, PIXELS, QUERIES,
)
from tips_ros.errors import ModelLoadError

if TYPE_CHECKING:
    import onnxruntime as ort

    from tips_ros.engine.backend import HeadInputs
    from tips_ros.engine.config import EngineConfig

_ONE_GRAPH = ("Engine.backbone needs backend torch; backend onnxruntime runs backbone and "
              "heads as one graph (Engine.raw_heads)")
TENSORRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
#: Environment variable: comma list of execution providers to use instead of the automatic
#: choice, in priority order (e.g. ``CUDAExecutionProvider`` to skip TensorRT's engine build).
PROVIDERS_ENV = "TIPS_ROS_ORT_PROVIDERS"


def trt_cache_dir(onnx_model: Path) -> Path:
    """Where the TensorRT EP keeps its engines and timing cache: ``<file stem>.trt_cache/``."""
    return onnx_model.with_name(onnx_model.stem + ".trt_cache")


def choose_providers(device: torch.device, precision: str, onnx_model: Path, available: list[str],
                     requested: str = "") -> list[tuple[str, dict[str, object]]]:
    """Choose execution providers with options for ``device``: TensorRT, CUDA, then CPU.

    Each only if this onnxruntime has it.

    ``precision`` ``auto`` or ``fp16`` lets TensorRT build fp16 kernels; ``fp32`` keeps fp32.
    ``requested`` (comma list, from :data:`PROVIDERS_ENV`) replaces the automatic order. A CUDA
    device without a GPU provider, or a requested provider this onnxruntime lacks, raises.
    """
    wanted = [p.strip() for p in requested.split(",") if p.strip()]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise ModelLoadError(f"execution provider {', '.join(missing)} ({PROVIDERS_ENV}) is not "
                             f"available in this onnxruntime, which has {', '.join(available)}")
    if device.type != "cuda":
        if set(wanted) - {CPU}:
            raise ModelLoadError(f"device '{device}' runs onnxruntime's {CPU} only, not "
                                 f"{', '.join(sorted(set(wanted) - {CPU}))} ({PROVIDERS_ENV})")
        return [(CPU, {})]
    available = wanted or available
    index = device.index or 0
    chosen: list[tuple[str, dict[str, object]]] = []
    if TENSORRT in available:
        chosen.append((TENSORRT, {
            "device_id": index, "trt_fp16_enable": precision in ("auto", "fp16"),
            "trt_engine_cache_enable": True, "trt_timing_cache_enable": True,
            "trt_engine_cache_path": str(trt_cache_dir(onnx_model)),
            "trt_timing_cache_path": str(trt_cache_dir(onnx_model)),
        }))
    if CUDA in available:
        chosen.append((CUDA, {"device_id": index}))
    if not chosen:
        raise ModelLoadError(
            f"device '{device}' needs onnxruntime's TensorRT or CUDA execution provider, but this "
            f"onnxruntime has only {', '.join(available)} (install onnxruntime-gpu, or use cpu)")
    return chosen + ([(CPU, {})] if CPU in available else [])


def load_failure(path: Path, err: Exception, version: str) -> str:
    """One sentence for onnxruntime failing to load ``path`` (opset too new, bad graph, ...)."""
    text = " ".join(str(err).split()) or type(err).__name__
    opset = re.search(r"Opset (\d+) is under development.*?till opset (\d+)", text)
    if opset:
        return (f"ONNX file '{path}' uses opset {opset[1]} but onnxruntime {version} supports "
                f"opsets up to {opset[2]}; upgrade onnxruntime or export with opset {OPSET}")
    text = re.sub(r"/onnxruntime_src/\S+ [^)]*\) ", "", text)  # drop the C++ source location
    return f"onnxruntime {version} cannot load ONNX file '{path}': {text}"


class OnnxBackend:
    """An ONNX Runtime session over an exported file, checked against the engine config.

    Implements :class:`tips_ros.engine.backend.Backend`: the heads the file holds, backbone and
    heads in one graph run (no separate backbone step), model inputs in fp32.
    """

    name = "onnxruntime"
    dtype = torch.float32  # the graph's inputs and outputs are fp32
    stepwise = False

    def __init__(self, config: EngineConfig, device: torch.device) -> None:
        self.path, self.device = _checked_path(config), device
        self.source = f"ONNX file '{self.path}'"
        self.session, self._stream = _open_session(self.path, config.precision, device)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get(META_FORMAT) != FORMAT:
            raise ModelLoadError(f"ONNX file '{self.path}' was not written by this version of "
                                 f"`tips-ros export` (metadata format {meta.get(META_FORMAT)}, "
                                 f"expected {FORMAT}); export it again")
        self.spec: ModelSpec = ModelSpec.from_json(meta[META_SPEC])
        self.heads: tuple[str, ...] = tuple(meta[META_HEADS].split(","))
        self.size = tuple(int(v) for v in meta[META_INPUT_SIZE].split(","))
        self.batch = None if meta[META_BATCH] == "dynamic" else int(meta[META_BATCH])
        self.precision: str = meta[META_PRECISION]  # of the network: fp32 or fp16
        self.providers: tuple[str, ...] = tuple(self.session.get_providers())
        self._outputs = {o.name: o.shape for o in self.session.get_outputs()}
        self._check(config, int(meta[META_EMBEDDING_DIM]))

    def _check(self, config: EngineConfig, embedding_dim: int) -> None:
        """Raise ModelLoadError if the file's metadata does not fit ``config`` or itself."""
        path = self.path
        if config.keep_aspect:
            fits = min(self.size) == config.input_size
        else:
            fits = self.size == (config.input_size, config.input_size)
        if not fits:
            side = "short side " if config.keep_aspect else ""
            raise ModelLoadError(
                f"ONNX file '{path}' was exported for input {self.size[0]}x{self.size[1]}, "
                f"which does not match input_size {config.input_size} ({side}pixels); export "
                f"again with --input-size or change input_size")
        if config.precision == "fp32" and self.precision != "fp32":
            raise ModelLoadError(f"ONNX file '{path}' holds an {self.precision} network but "
                                 "precision is fp32; export without --fp16 or set precision auto")
        if embedding_dim != self.spec.hidden_size:
            raise ModelLoadError(f"ONNX file '{path}' has inconsistent metadata (embedding "
                                 f"width {embedding_dim} vs {self.spec.hidden_size})")
        if tuple(self._outputs) != self.heads:
            raise ModelLoadError(f"ONNX file '{path}' has outputs {list(self._outputs)} but its "
                                 f"metadata names heads {list(self.heads)}; export it again")

    def raw_heads(self, pixels: torch.Tensor, inputs: HeadInputs) -> dict[str, torch.Tensor]:
        """Raw outputs of ``inputs.heads`` for model input ``pixels`` (B, 3, H, W) fp32 in 0..1.

        ``inputs.text`` (Q, D) are the unit query embeddings. A fixed-batch file runs the
        frames in chunks of its batch size (the last chunk padded by repeating its last frame).
        """
        heads, queries = inputs.heads, inputs.text
        if tuple(pixels.shape[-2:]) != self.size:
            raise ValueError(
                f"the model input of these images is {pixels.shape[-2]}x{pixels.shape[-1]} but "
                f"ONNX file '{self.path}' was exported for {self.size[0]}x{self.size[1]}")
        total, step = pixels.shape[0], self.batch or pixels.shape[0]
        count = queries.shape[0]  # none: one dummy query (no zero-size binding), dropped below
        queries = queries if count else queries.new_zeros((1, queries.shape[1]))
        chunks = []
        for start in range(0, total, step):
            chunk = pixels[start:start + step]
            if chunk.shape[0] < step:
                pad = chunk[-1:].expand(step - chunk.shape[0], *chunk.shape[1:])
                chunk = torch.cat([chunk, pad])
            chunks.append(self._run_chunk(chunk.float().contiguous(), queries))
        raw = {h: torch.cat([c[h] for c in chunks])[:total] for h in self.heads if h in heads}
        if "heatmaps" in raw:
            raw["heatmaps"] = raw["heatmaps"][:, :count]
        return raw

    def backbone(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Raise: the graph has no separate backbone step."""
        raise RuntimeError(_ONE_GRAPH)

    def run_heads(self, features: tuple[torch.Tensor, ...],
                  inputs: HeadInputs) -> dict[str, torch.Tensor]:
        """Raise: the graph has no separate heads step."""
        raise RuntimeError(_ONE_GRAPH)

    def module(self) -> torch.nn.Module:
        """Raise: the weights are in the graph, not in a torch module."""
        raise RuntimeError(f"the {self.source} holds a graph, not a torch module; export "
                           "from the model with backend torch")

    def model_configs(self) -> tuple[Any, ...]:
        """Return nothing: the file holds no transformers config."""
        return ()

    def close(self) -> None:
        """End the session."""
        del self.session

    def _run_chunk(self, pixels: torch.Tensor, queries: torch.Tensor) -> dict[str, torch.Tensor]:
        """One session run with inputs and outputs bound to torch tensors on the device."""
        binding = self.session.io_binding()
        kind, index = self.device.type, self.device.index or 0
        queries = queries.float().contiguous()
        self._bind_input(binding, PIXELS, pixels)
        if "heatmaps" in self.heads:
            self._bind_input(binding, QUERIES, queries)
        sizes = {"batch": pixels.shape[0], "queries": queries.shape[0]}
        outputs = {}
        for name, shape in self._outputs.items():
            dims = [d if isinstance(d, int) else sizes[d] for d in shape]
            outputs[name] = torch.empty(dims, dtype=torch.float32, device=self.device)
            binding.bind_output(name, kind, index, np.float32, dims, outputs[name].data_ptr())
        if kind != "cuda":
            self.session.run_with_iobinding(binding)
            return outputs
        # The session runs on torch's stream of when it opened (the GPU providers'
        # user_compute_stream): the kernels that wrote pixels are ordered before it on the
        # device, and no host wait. Another current stream is ordered on the device too.
        import onnxruntime as ort

        current = torch.cuda.current_stream(self.device)
        if current != self._stream:
            self._stream.wait_stream(current)
            pixels.record_stream(self._stream)
            queries.record_stream(self._stream)
        run_options = ort.RunOptions()
        run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")
        self.session.run_with_iobinding(binding, run_options)
        if current != self._stream:
            current.wait_stream(self._stream)
        return outputs

    def _bind_input(self, binding: object, name: str, tensor: torch.Tensor) -> None:
        binding.bind_input(name, self.device.type, self.device.index or 0, np.float32,
                           list(tensor.shape), tensor.data_ptr())


def _checked_path(config: EngineConfig) -> Path:
    """Return the ONNX file of ``config``; raise ModelLoadError for options it cannot run."""
    path = Path(config.onnx_model).expanduser()
    if not config.onnx_model:
        raise ModelLoadError("backend onnxruntime needs onnx_model, a file written by "
                             "`tips-ros export --onnx FILE`")
    if not path.is_file():
        raise ModelLoadError(f"ONNX file '{path}' does not exist; write it with "
                             f"`tips-ros export --onnx {path}`")
    if config.compile != "none" or config.channels_last:
        raise ModelLoadError("compile and channels_last apply to backend torch only; "
                             "set compile none and channels_last false with onnxruntime")
    if config.precision not in ("auto", "fp32", "fp16"):
        raise ModelLoadError(f"backend onnxruntime runs fp32 or fp16 graphs, not precision "
                             f"'{config.precision}'")
    return path


def _open_session(path: Path, precision: str,
                  device: torch.device) -> tuple[ort.InferenceSession, torch.cuda.Stream | None]:
    """Open an ONNX Runtime session on ``path`` with the providers for ``device``.

    On CUDA the GPU providers run on torch's current stream (returned with the session).
    Raises ModelLoadError when the session did not get the providers it was asked for
    (:func:`check_providers`).
    """
    import onnxruntime as ort

    providers = choose_providers(device, precision, path, ort.get_available_providers(),
                                 os.environ.get(PROVIDERS_ENV, ""))
    stream = torch.cuda.current_stream(device) if device.type == "cuda" else None
    if stream is not None:
        providers = [(name, {**options, "user_compute_stream": str(stream.cuda_stream)}
                      if name in (TENSORRT, CUDA) else options) for name, options in providers]
    if providers[0][0] == TENSORRT:
        trt_cache_dir(path).mkdir(parents=True, exist_ok=True)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the EP fallback notes are not the user's
    try:
        session = ort.InferenceSession(
            str(path), options, providers=[p for p, _ in providers],
            provider_options=[o for _, o in providers])
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelLoadError(load_failure(path, err, ort.__version__)) from None
    check_providers([p for p, _ in providers], session.get_providers(), device,
                    bool(os.environ.get(PROVIDERS_ENV, "").strip()))
    return session, stream


def check_providers(asked: list[str], obtained: list[str], device: torch.device,
                    requested: bool) -> None:
    """Raise ModelLoadError when onnxruntime dropped a provider it was asked for.

    onnxruntime drops a provider whose libraries fail to load (TensorRT without libnvinfer,
    CUDA without cuDNN) and runs on what is left. Providers ``requested`` by name
    (:data:`PROVIDERS_ENV`) must all be ``obtained``; the automatic choice must get at least
    one GPU provider on a CUDA ``device`` (inputs bound to device memory cannot meet a CPU
    session).
    """
    gpu = {TENSORRT, CUDA}
    missing = [p for p in asked if p not in obtained] if requested else (
        [p for p in asked if p in gpu] if device.type == "cuda" and not gpu & set(obtained)
        else [])
    if missing:
        raise ModelLoadError(
            f"onnxruntime was asked for {', '.join(asked)} but runs on {', '.join(obtained)}: "
            f"{', '.join(missing)} did not load (its libraries are missing or do not match this "
            f"onnxruntime)")
