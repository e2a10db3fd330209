# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros export``: the engine's pixels -> raw head outputs as one ONNX graph.

The graph is :meth:`tips_ros.engine.engine.Engine.raw_heads` of the torch backend, traced with
``torch.onnx.export`` (the dynamo exporter): the same code the torch engine runs, so the two
cannot drift apart. What is in the graph and what is not (see docs/edge.md):

* in: the TIPSv2 ViT backbone, the requested DPT heads, the depth expectation over the bins
  (fp32), L2-normalised normals, segmentation logits, and the cosine similarity of the
  L2-normalised patch tokens with the query embeddings, which are a graph *input*, so text
  queries change at run time without a new export;
* out: the resize of the camera image to the model input (image sizes vary per camera) and
  the engine's shared post-processing (upsampling to the image size, argmax, colour views,
  softmax heatmap mode), which both backends run alike on the engine's device.

Inputs: ``pixels`` ``(B, 3, H, W)`` float32 RGB in 0..1 (the model input size); ``queries``
``(Q, D)`` float32 unit rows (only with heatmaps). Outputs at head resolution (H', W') =
(H, W) / 1.75 for the released model: ``depth`` ``(B, H', W')`` metres, ``normals``
``(B, 3, H', W')`` unit vectors in the camera optical frame, ``segmentation``
``(B, K, H', W')`` logits, ``heatmaps`` ``(B, Q, H/14, W/14)`` cosine. All float32; with
``--fp16`` the weights and the network run in fp16 and the graph casts at its edges.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from tips_ros import __version__
from tips_ros.engine.config import EngineConfig
from tips_ros.engine.engine import Engine
from tips_ros.engine.onnx_format import (
    FORMAT, META_BATCH, META_EMBEDDING_DIM, META_FORMAT, META_HEADS, META_INPUT_SIZE, META_MODEL,
    META_OPSET, META_PRECISION, META_SPEC, META_VERSION, OPSET, PIXELS, QUERIES,
)
from tips_ros.engine.prediction import HEADS

#: Graph above this many bytes of weights go to an external data file (protobuf's 2 GB limit).
EXTERNAL_DATA_BYTES = 1_800_000_000


class RawHeadsGraph(torch.nn.Module):
    """``(pixels, queries) -> outputs of heads`` through ``Engine.raw_heads`` (torch backend)."""

    def __init__(self, engine: Engine, heads: tuple[str, ...], size: tuple[int, int]) -> None:
        super().__init__()
        self.engine, self.heads = engine, heads
        self.model = engine.backend.module()  # registered: the exporter sees the weights
        self.grid = (size[0] // engine.patch_size, size[1] // engine.patch_size)

    def forward(self, pixels: torch.Tensor, queries: torch.Tensor | None = None) -> tuple:
        # queries (Q, D) unit rows: the heatmaps' query embeddings become the graph input
        raw = self.engine.raw_heads(pixels.to(self.engine.dtype), self.grid, set(self.heads),
                                    text=queries)
        return tuple(raw[head] for head in self.heads)


@dataclass(frozen=True)
class ExportOptions:
    """An ONNX export (``tips-ros export``): ``model``'s backbone and ``heads`` into ``onnx``.

    ``model`` is a hub id or directory; ``heads`` a non-empty subset of :data:`HEADS`;
    ``input_size`` the model input (H, W) in pixels, multiples of the patch size (checked
    when the model is loaded); ``batch`` frames per run, ``None`` for a dynamic batch
    dimension; ``fp16`` exports fp16 weights and network (depth expectation and normals stay
    fp32); ``allow_pickle`` allows non-safetensors weights. Checked when built
    (``UsageError``, one sentence).
    """

    onnx: Path
    model: str = EngineConfig.model
    heads: tuple[str, ...] = HEADS
    input_size: tuple[int, int] = (EngineConfig.input_size, EngineConfig.input_size)
    batch: int | None = 1
    fp16: bool = False
    allow_pickle: bool = EngineConfig.allow_pickle

    def __post_init__(self) -> None:
        """Normalise the types and check heads and batch (``UsageError``)."""
        from tips_ros.errors import UsageError

        object.__setattr__(self, "onnx", Path(self.onnx))
        object.__setattr__(self, "heads", tuple(self.heads))
        object.__setattr__(self, "input_size", tuple(self.input_size))
        unknown = [h for h in self.heads if h not in HEADS]
        if unknown or not self.heads:
            raise UsageError(f"--heads must be a non-empty subset of {','.join(HEADS)}, "
                             f"not {self.heads}")
        if self.batch is not None and (not isinstance(self.batch, int) or self.batch < 1):
            raise UsageError(f"--batch must be a positive number or 'dynamic', "
                             f"not {self.batch!r}")


def export(model: str, out: Path, heads: tuple[str, ...], size: tuple[int, int],
           batch: int | None, fp16: bool, allow_pickle: bool = ExportOptions.allow_pickle) -> None:
    """Write ``out`` (ONNX) for ``model`` (hub id or directory) and check it.

    ``size`` = model input (H, W) in pixels, multiples of the patch size; ``batch`` None means
    a dynamic batch dimension. The values are checked as :class:`ExportOptions`.
    """
    from tips_ros.errors import UsageError

    ExportOptions(out, model, heads, size, batch, fp16, allow_pickle)
    engine = Engine(EngineConfig(model=model, text_model="", device="cpu",
                                 precision="fp16" if fp16 else "fp32", allow_pickle=allow_pickle))
    if any(side % engine.patch_size or side <= 0 for side in size):
        raise UsageError(f"--input-size {size[0]} {size[1]} must be positive multiples of "
                         f"{engine.patch_size}")
    heads = tuple(h for h in HEADS if h in heads)  # outputs in the engine's head order
    width = engine.spec.hidden_size
    example_batch = batch or 2
    pixels = torch.rand(example_batch, 3, *size)
    args: tuple = (pixels,)
    names = [PIXELS]
    dynamic: dict[str, dict[int, torch.export.Dim]] = {PIXELS: {}}
    if "heatmaps" in heads:
        args += (torch.nn.functional.normalize(torch.randn(3, width), dim=-1),)
        names.append(QUERIES)
        dynamic[QUERIES] = {0: torch.export.Dim("queries", min=1, max=1024)}
    if batch is None:
        dynamic[PIXELS] = {0: torch.export.Dim("batch", min=1, max=1024)}
    graph = RawHeadsGraph(engine, heads, size).eval()
    weight_bytes = sum(p.numel() * p.element_size() for p in graph.model.parameters())
    with torch.inference_mode(False), torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            graph, args, dynamo=True, verbose=False, opset_version=OPSET, input_names=names,
            output_names=list(heads), dynamic_shapes=tuple(dynamic[n] for n in names),
            external_data=weight_bytes > EXTERNAL_DATA_BYTES, optimize=True,
        )
    program.model.metadata_props.update({
        META_FORMAT: FORMAT, META_HEADS: ",".join(heads), META_INPUT_SIZE: f"{size[0]},{size[1]}",
        META_BATCH: "dynamic" if batch is None else str(batch), META_OPSET: str(OPSET),
        META_EMBEDDING_DIM: str(width), META_PRECISION: "fp16" if fp16 else "fp32",
        META_VERSION: __version__, META_MODEL: model, META_SPEC: engine.spec.to_json(),
    })
    out.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(out), external_data=weight_bytes > EXTERNAL_DATA_BYTES)
    check(out)


def check(path: Path) -> None:
    """Run the ONNX checker on ``path`` (full check, with shape inference)."""
    import onnx

    onnx.checker.check_model(str(path), full_check=True)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's warnings and log (the CLI prints its own summary)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
