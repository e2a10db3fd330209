# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Engine backend ``torch``: the transformers TIPSv2 DPT model, backbone and heads as steps.

Loads the model safely (:func:`tips_ros.engine.loading.load_pretrained`) in the configured
dtype, applies the optional accelerations (:mod:`tips_ros.engine.acceleration`) and computes
every head: the DPT heads (:mod:`tips_ros.engine.heads`), the heatmaps' patch cosine, and the
feature heads that read the final tokens or, for zero-shot, the last block's input (captured
by a forward pre-hook during the same backbone pass, :mod:`tips_ros.engine.features`).
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

import torch

from tips_ros.engine.acceleration import accelerate
from tips_ros.engine.config import ModelSpec, precision_name, resolve_dtype
from tips_ros.engine.features import token_heads, value_attention_tokens
from tips_ros.engine.heads import dpt_heads, patch_cosine
from tips_ros.engine.loading import load_pretrained
from tips_ros.engine.prediction import ALL_HEADS

if TYPE_CHECKING:
    from tips_ros.engine.backend import HeadInputs
    from tips_ros.engine.config import EngineConfig


class TorchBackend:
    """The transformers model on ``device`` (see :class:`tips_ros.engine.backend.Backend`)."""

    name = "torch"
    heads: tuple[str, ...] = ALL_HEADS
    providers: tuple[str, ...] = ()
    stepwise = True

    def __init__(self, config: EngineConfig, device: torch.device) -> None:
        from transformers import Tipsv2DptForDensePrediction  # after the version check

        self.source = config.model
        self.dtype = resolve_dtype(config.precision, device)
        self.precision = precision_name(self.dtype)
        self.model = load_pretrained(
            Tipsv2DptForDensePrediction, config.model, allow_pickle=config.allow_pickle,
            labelled=True)
        self.model.to(device=device, dtype=self.dtype).eval()
        self.spec = ModelSpec.of(self.model, config.model)
        self._bins = torch.linspace(  # depth bin centres, metres
            *self.spec.depth_range, self.spec.depth_bins, device=device, dtype=torch.float32)
        self._last_block_input: torch.Tensor | None = None
        self._hook = self.model.backbone.encoder.layer[-1].register_forward_pre_hook(
            self._on_last_block)
        if config.compile != "none" or config.channels_last:
            accelerate(self.model, config)

    def _on_last_block(self, _module: object, args: tuple) -> None:
        """Keep a reference to the last block's input (no copy) for zero-shot segmentation."""
        self._last_block_input = args[0]

    def raw_heads(self, pixels: torch.Tensor, inputs: HeadInputs) -> dict[str, torch.Tensor]:
        """One backbone pass, then the requested heads (:meth:`run_heads`)."""
        raw = self.run_heads(self.backbone(pixels), inputs)
        self._last_block_input = None
        return raw

    def backbone(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the backbone's four DPT feature maps (see ``Engine.backbone``)."""
        self._last_block_input = None
        return self.model.backbone(pixels).feature_maps

    def run_heads(self, features: tuple[torch.Tensor, ...],
                  inputs: HeadInputs) -> dict[str, torch.Tensor]:
        """DPT heads, heatmap cosine, feature heads and zero-shot from the feature maps."""
        heads, grid, spec = inputs.heads, inputs.grid, self.spec
        raw = dpt_heads(self.model, features, grid, heads, self._bins, spec.depth_range[0])
        last = features[-1]
        if "heatmaps" in heads:
            raw["heatmaps"] = patch_cosine(last[:, 1 + spec.num_registers:], inputs.text, grid)
        raw.update(token_heads(last, grid, heads, spec.num_registers, inputs.pca))
        if "zeroshot" in heads:
            raw["zeroshot"] = patch_cosine(self.zeroshot_tokens(), inputs.zeroshot_text(), grid)
        return raw

    def zeroshot_tokens(self) -> torch.Tensor:
        """Return the (B, N, D) value-attention patch tokens of the current pass.

        See :func:`tips_ros.engine.features.value_attention_tokens`.
        """
        if self._last_block_input is None:
            raise RuntimeError("the last block's input was not captured in this pass")
        backbone = self.model.backbone
        hidden = self._last_block_input[:, 1 + self.spec.num_registers:]
        return value_attention_tokens(backbone.encoder.layer[-1], hidden, backbone.layernorm)

    def module(self) -> torch.nn.Module:
        """Return the DPT model (its parameters are the vision weights)."""
        return self.model

    def model_configs(self) -> tuple[Any, ...]:
        """Return the DPT model's transformers config."""
        return (self.model.config,)

    def close(self) -> None:
        """Remove the hook and drop the model."""
        self._hook.remove()
        del self.model
