# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Dense features, their PCA view, global embeddings and zero-shot segmentation (no ROS).

Everything here works on tensors the engine already has from its single backbone pass:

* the final layer-normed tokens (``feature_maps[-1]`` of the DPT backbone, which is the vision
  model's ``last_hidden_state``): index 0 is the first CLS token (web alt-text aligned),
  ``1 .. num_registers`` the register token(s) that TIPSv2 trains as a second CLS token
  (synthetic-caption aligned), then the patch tokens in row-major grid order;
* the input of the last encoder block, captured by a forward pre-hook during the same pass.

Zero-shot segmentation ("value attention", MaskCLIP as used by the TIPS papers): the last
block is re-evaluated on its captured input with the self-attention output replaced by the
value path, i.e. for each token ``x``::

    y = x + ls1 * o_proj(v_proj(norm1(x)))      # attention weights dropped: no token mixing
    y = y + ls2 * mlp(norm2(y))                 # MLP branch unchanged
    t = layernorm(y)                            # the backbone's final layer norm

Residual, layer scales, MLP and final norm are kept (as MaskCLIP's reference implementation
keeps them); only the query/key attention pattern is removed, so each patch token depends only
on its own input and the pass runs on the patch tokens alone. ``t`` is L2-normalised and
compared (cosine) with prompt-ensembled text embeddings
(:data:`tips_ros.engine.prediction.ZEROSHOT_TEMPLATES`).

Cost of that extra work (not a second backbone pass): one block without q/k projections and
attention matmuls, on the patch tokens only. For B/14 at 448x448 (1024 patches, D 768) that is
about 12 GFLOP (v/o projections 2.4 + MLP 9.7) against ~18 GFLOP for a full block and 887 GFLOP
for the all-heads frame, i.e. about 1.4%. The PCA update adds one ``D x D`` covariance of the patch
tokens (~1.2 GFLOP at B/14 448) and a ``D x D @ D x 3`` product per batch. Not measured on a
GPU here.
"""

from __future__ import annotations

from collections.abc import Collection

import torch
import torch.nn.functional as F

#: ``zeroshot`` id of a pixel whose best query similarity is below the threshold (or no query).
NO_QUERY = 255


def value_output_projections(
        attention: torch.nn.Module) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    """Return the value and output projections of a ``Tipsv2VisionAttention``.

    transformers 5.18 and later name them ``v_proj`` and ``o_proj``; 5.17 (the floor, see
    :mod:`tips_ros.engine.requirements`) ``attention.value`` and ``output.dense``.
    """
    if hasattr(attention, "v_proj"):
        return attention.v_proj, attention.o_proj
    return attention.attention.value, attention.output.dense


def value_attention_tokens(layer: torch.nn.Module, hidden: torch.Tensor,
                           final_norm: torch.nn.Module) -> torch.Tensor:
    """Run the MaskCLIP value-attention variant of a ``Tipsv2VisionLayer`` on ``hidden``.

    ``hidden`` is the block's input (any subset of tokens: the variant does not mix tokens).
    Returns the tokens after the backbone's final layer norm (not normalised to unit length).
    Eval mode only (drop path is the identity).
    """
    value, output = value_output_projections(layer.attention)
    x = output(value(layer.norm1(hidden)))
    x = layer.layer_scale1(x) + hidden
    x = x + layer.layer_scale2(layer.mlp(layer.norm2(x)))
    return final_norm(x)


def zeroshot_ids(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Return the per-pixel best query id of ``(Q, H, W)`` cosine scores, uint8 ``(H, W)``.

    ``NO_QUERY`` where the best score is below ``threshold`` or there are no queries.
    """
    if scores.shape[0] == 0:
        return torch.full(scores.shape[1:], NO_QUERY, dtype=torch.uint8, device=scores.device)
    best, ids = scores.max(dim=0)
    ids = ids.to(torch.uint8)
    return torch.where(best < threshold, NO_QUERY, ids)  # no boolean-mask indexing: no sync


def colorize_zeroshot(image: torch.Tensor, ids: torch.Tensor,
                      palette: torch.Tensor) -> torch.Tensor:
    """Draw the rgb8 view: query colour blended half over the image, unlabelled pixels dimmed.

    Unlabelled pixels (``NO_QUERY``) keep half their brightness.

    ``image`` HxWx3 uint8, ``ids`` HxW uint8, ``palette`` Qx3 uint8 (query i -> colour i, the
    same colours as ``heatmaps/color``).
    """
    rgb = image.float()
    none = ids == NO_QUERY
    if palette.shape[0]:
        colour = palette[ids.long().clamp(max=palette.shape[0] - 1)].float()
        out = 0.5 * rgb + 0.5 * colour
    else:
        out = rgb
    out = torch.where(none[..., None], 0.5 * rgb, out)
    return out.round().clamp(0, 255).to(torch.uint8)


class PcaProjector:
    """A slowly moving 3-component PCA of patch features, for a flicker-free rgb8 view.

    * First batch: mean and covariance of its patch tokens, top-3 eigenvectors (``eigh``), each
      sign chosen so the projections' third moment is positive (deterministic for a scene).
    * Every later batch: exponential moving average of the mean and covariance with weight
      ``momentum`` for the new batch, then ONE step of orthogonal (subspace) iteration
      ``V <- qr(C V)`` from the previous basis, with each column's sign aligned to its previous
      value. The basis therefore turns slowly towards the current principal subspace and never
      jumps or swaps sign; no per-frame eigendecomposition.
    * Colour: channel k = ``0.5 + (x - mean) . v_k / (2 * spread * sigma_k)`` clipped to 0..1,
      ``sigma_k`` the running standard deviation along ``v_k`` (``spread`` = 2.5 sigmas to
      each end of the range).

    One projector serves every camera of a node (same features -> same colours everywhere).
    All statistics are fp32 on the tokens' device.
    """

    def __init__(self, momentum: float = 0.05, spread: float = 2.5) -> None:
        self.momentum = momentum
        self.spread = spread
        self.updates = 0
        self.mean: torch.Tensor | None = None
        self.cov: torch.Tensor | None = None
        self.basis: torch.Tensor | None = None  # (D, 3) orthonormal columns

    def reset(self) -> None:
        """Forget the projection: the next batch fits a new one."""
        self.__init__(self.momentum, self.spread)

    def update(self, tokens: torch.Tensor) -> None:
        """Fold ``(N, D)`` patch tokens into the running statistics and basis."""
        x = tokens.float()
        if self.mean is None or self.mean.shape[0] != x.shape[1]:
            self.mean = x.mean(dim=0)
            centred = x - self.mean
            self.cov = centred.T @ centred / max(1, x.shape[0])
            _, vectors = torch.linalg.eigh(self.cov)
            basis = vectors[:, -3:].flip(-1)
            skew = ((centred @ basis) ** 3).sum(dim=0)
            self.basis = basis * torch.where(skew < 0, -1.0, 1.0)
        else:
            m = self.momentum
            self.mean = (1 - m) * self.mean + m * x.mean(dim=0)
            centred = x - self.mean
            self.cov = (1 - m) * self.cov + m * (centred.T @ centred / max(1, x.shape[0]))
            basis, _ = torch.linalg.qr(self.cov @ self.basis)
            signs = torch.where((basis * self.basis).sum(dim=0) < 0, -1.0, 1.0)
            self.basis = basis * signs
        self.updates += 1

    def project(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` tokens -> ``(..., 3)`` colours in 0..1 (call ``update`` first)."""
        assert self.basis is not None and self.cov is not None and self.mean is not None
        sigma = torch.sqrt(((self.cov @ self.basis) * self.basis).sum(dim=0).clamp_min(1e-12))
        coords = (tokens.float() - self.mean) @ self.basis
        return (0.5 + coords / (2 * self.spread * sigma)).clamp(0, 1)


def token_heads(last: torch.Tensor, grid: tuple[int, int], heads: Collection[str],
                num_registers: int, pca: PcaProjector) -> dict[str, torch.Tensor]:
    """Compute the requested heads that read the final tokens directly.

    ``last``: ``(B, 1 + R + N, D)`` final layer-normed tokens, N = ph * pw patches
    (``grid`` = (ph, pw)). Returns ``features`` ``(B, ph, pw, D)`` patch tokens,
    ``features_pca`` ``(B, 3, ph, pw)`` colours in 0..1 (updates ``pca`` first) and
    ``embedding`` ``(B, 1 + R, D)`` unit rows, each only if in ``heads``.
    """
    raw = {}
    if "features" in heads:
        patches = last[:, 1 + num_registers:]
        raw["features"] = patches.reshape(patches.shape[0], *grid, patches.shape[-1])
        if "features_pca" in heads:
            pca.update(patches.reshape(-1, patches.shape[-1]))
            colours = pca.project(patches)  # (B, N, 3) in 0..1
            raw["features_pca"] = colours.permute(0, 2, 1).reshape(colours.shape[0], 3, *grid)
    if "embedding" in heads:
        raw["embedding"] = normalised_embeddings(last, num_registers)
    return raw


def normalised_embeddings(last: torch.Tensor, num_registers: int) -> torch.Tensor:
    """``(B, 1 + R, D)`` unit vectors: the CLS token, then the register (second CLS) token(s)."""
    return F.normalize(last[:, : 1 + num_registers].float(), dim=-1)
