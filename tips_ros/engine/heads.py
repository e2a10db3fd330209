# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The heads' arithmetic on the backbone's feature maps, at head resolution.

The DPT heads (depth, normals, segmentation) run their transformers neck and decoder on the
four feature maps; the per-pixel finish that needs fp32 (the depth expectation over the bins,
the normal normalisation) and the project's one normals sign flip happen here. Text heatmaps and
zero-shot scores are cosine similarities of patch tokens with unit query embeddings.
The ONNX export traces this code too (through ``Engine.raw_heads``), so both backends share it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from transformers import Tipsv2DptForDensePrediction


def dpt_heads(
    model: Tipsv2DptForDensePrediction, features: tuple[torch.Tensor, ...],
    grid: tuple[int, int], heads: Collection[str], bins: torch.Tensor, min_depth: float,
) -> dict[str, torch.Tensor]:
    """Run the requested DPT heads on the backbone's four feature maps.

    ``grid`` = (ph, pw) patches of the model input; ``bins`` the depth bin centres in metres
    on the model's device, ``min_depth`` the first of them (a Python float: no device read).
    Returns fp32 tensors at head resolution (h', w'): depth ``(B, h', w')`` metres, normals
    ``(B, 3, h', w')`` outward unit vectors in the camera optical frame (x right, y down,
    z forward), segmentation ``(B, K, h', w')`` logits.
    """
    ph, pw = grid
    raw = {}
    if "depth" in heads:
        logits = model.depth_decoder(model.depth_neck(features, ph, pw)[-1])
        raw["depth"] = depth_expectation(logits, bins, min_depth)
    if "normals" in heads:
        normals = model.normals_decoder(model.normals_neck(features, ph, pw)[-1]).float()
        # The released TIPSv2 normals head predicts the NEGATIVE of the outward (REP 103)
        # normal in the optical frame: the authors' notebook shows floors with y > 0 and
        # walls facing the camera with z > 0 (docs/models.md, "Surface normals").
        # The one sign flip of the project, here where the head's output is interpreted
        # (also traced into ONNX exports): published normals point out of the surface.
        raw["normals"] = -F.normalize(normals, dim=1)
    if "segmentation" in heads:
        raw["segmentation"] = model.segmentation_decoder(
            model.segmentation_neck(features, ph, pw)[-1]
        ).float()
    return raw


def depth_expectation(logits: torch.Tensor, bins: torch.Tensor, min_depth: float) -> torch.Tensor:
    """Turn ``(B, K, h, w)`` depth-bin logits into ``(B, h, w)`` depth in metres, in fp32.

    As transformers' TIPSv2 DPT depth head: bin weights ``relu(logits) + min_depth`` (the first
    bin centre, metres), normalised over the K ``bins`` (centres in metres); depth = the
    weighted mean bin centre.
    fp32 throughout (in bf16 the expectation keeps only about 3 significant digits).
    """
    probs = F.relu(logits.float()) + min_depth
    probs = probs / probs.sum(dim=1, keepdim=True)
    return torch.einsum("bkhw,k->bhw", probs, bins)


def patch_cosine(
    patches: torch.Tensor, text: torch.Tensor, grid: tuple[int, int],
) -> torch.Tensor:
    """Cosine of ``(B, N, D)`` patch tokens with ``(Q, D)`` unit query embeddings.

    Returns ``(B, Q, ph, pw)`` in [-1, 1] (``grid`` = (ph, pw), N = ph * pw row-major).
    """
    unit = F.normalize(patches.float(), dim=-1)
    scores = torch.einsum("bnd,qd->bqn", unit, text)
    return scores.reshape(scores.shape[0], scores.shape[1], *grid)
