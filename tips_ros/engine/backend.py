# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The engine's backend interface: what turns a batch of model inputs into raw head outputs.

:class:`~tips_ros.engine.engine.Engine` composes one :class:`Backend` and keeps everything
both backends share (upload, resize, text queries, heatmap mode, post-processing, counters,
out-of-memory handling). Two implement it:

* ``torch`` (:mod:`tips_ros.engine.torch_backend`): the transformers model; backbone and heads
  are separate steps, every head including the feature heads;
* ``onnxruntime`` (:mod:`tips_ros.engine.onnx_backend`): the graph written by ``tips-ros
  export``, backbone and heads in one run, the heads the file holds.

:func:`load_backend` is the one place that picks a backend by its name
(:data:`~tips_ros.engine.prediction.BACKENDS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol, TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from tips_ros.engine.config import EngineConfig, ModelSpec
    from tips_ros.engine.features import PcaProjector

#: backend name -> (module, class) implementing :class:`Backend` (imported when chosen)
_IMPLEMENTATIONS = {
    "torch": ("tips_ros.engine.torch_backend", "TorchBackend"),
    "onnxruntime": ("tips_ros.engine.onnx_backend", "OnnxBackend"),
}


@dataclass(frozen=True)
class HeadInputs:
    """What the heads of one batch need besides the pixels.

    ``grid``: (ph, pw) patches of the model input; ``heads``: the heads and views asked for;
    ``text``: ``(Q, D)`` unit query embeddings for the heatmaps; ``zeroshot_text``: returns the
    prompt-ensembled ``(Q, D)`` embeddings for zero-shot (called only when it runs); ``pca``:
    the engine's running projection for ``features_pca``.
    """

    grid: tuple[int, int]
    heads: Collection[str]
    text: torch.Tensor
    zeroshot_text: Callable[[], torch.Tensor]
    pca: PcaProjector


class Backend(Protocol):
    """One way to compute the raw heads: a loaded model on a device.

    Attributes: ``name`` (a :data:`~tips_ros.engine.prediction.BACKENDS` entry), ``source``
    (the model reference or file it loaded, for messages), ``spec`` (patch size, token layout,
    class names, depth bins), ``heads`` (the heads it computes; their views come with them),
    ``dtype`` (the dtype of the model input it takes), ``precision`` (the precision its network
    computes in, a :data:`~tips_ros.engine.prediction.PRECISION_NAMES` entry), ``providers``
    (onnxruntime's execution providers in use; empty for torch) and ``stepwise`` (whether
    backbone and heads run as separate torch steps, so they can be profiled and their FLOPs
    counted one by one).
    """

    name: str
    source: str
    spec: ModelSpec
    heads: tuple[str, ...]
    dtype: torch.dtype
    precision: str
    providers: tuple[str, ...]
    stepwise: bool

    def raw_heads(self, pixels: torch.Tensor, inputs: HeadInputs) -> dict[str, torch.Tensor]:
        """Model input ``(B, 3, h, w)`` in 0..1 -> each requested head's raw output.

        Shapes as :meth:`tips_ros.engine.engine.Engine.raw_heads`; heatmaps are cosine
        similarities (the engine applies the heatmap mode). Runs one backbone pass.
        """

    def backbone(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run the backbone alone; raise RuntimeError (one sentence) where it is not a step."""

    def run_heads(self, features: tuple[torch.Tensor, ...],
                  inputs: HeadInputs) -> dict[str, torch.Tensor]:
        """Compute the requested heads from :meth:`backbone`'s feature maps."""

    def module(self) -> torch.nn.Module:
        """Return the torch module holding the vision weights (``tips-ros export`` traces it)."""

    def model_configs(self) -> tuple[Any, ...]:
        """Return the transformers configs of the models it loaded (none for a graph file)."""

    def close(self) -> None:
        """Release the model."""


def load_backend(config: EngineConfig, device: torch.device) -> Backend:
    """Load the backend ``config.backend`` names on ``device`` (raises ModelLoadError)."""
    module, name = _IMPLEMENTATIONS[config.backend]
    return getattr(importlib.import_module(module), name)(config, device)
