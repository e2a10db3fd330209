# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The key tables: the authors' tensor names and layouts against the Hugging Face ones.

Each row (:class:`Rule`) is (authors' key, Hugging Face key(s), layout). ``{i}`` is a block
index. Several Hugging Face keys mean the authors' tensor is their concatenation along dim 0
(fused q/k/v, fused SwiGLU gate/up). Layouts: "same" (identical array), "dense" (Flax
(in, out) -> torch (out, in)), "conv" (Flax HWIO -> torch OIHW), "convT" (Flax
ConvTranspose HWIO with no kernel flip -> torch (in, out, H, W), spatially flipped).

The same tables are read in both directions: :mod:`.converter` maps the authors' files to
Hugging Face models, :mod:`.writers` writes the authors' layout from a Hugging Face model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Rule:
    """One row of a key table."""

    theirs: str
    ours: tuple[str, ...]
    layout: str = "same"
    optional: bool = False


def rule(theirs: str, *ours: str, layout: str = "same", optional: bool = False) -> Rule:
    """Return the row mapping the authors' ``theirs`` to the Hugging Face key(s) ``ours``."""
    return Rule(theirs, ours, layout, optional)


def _pair(theirs: str, ours: str, layout: str = "same") -> list[Rule]:
    """Return the rules for a layer's ``weight`` (or ``kernel``) and ``bias``."""
    weight = "kernel" if layout != "same" else "weight"
    sep = "/" if layout != "same" else "."
    return [
        rule(f"{theirs}{sep}{weight}", f"{ours}.weight", layout=layout),
        rule(f"{theirs}{sep}bias", f"{ours}.bias", layout="same"),
    ]


VISION_KEYS: list[Rule] = [
    rule("cls_token", "embeddings.cls_token"),
    rule("pos_embed", "embeddings.position_embeddings"),
    rule("register_tokens", "embeddings.register_tokens"),
    # DINOv2's mask token is only used in training; taken when present, zeros otherwise.
    rule("mask_token", "embeddings.mask_token", optional=True),
    *_pair("patch_embed.proj", "embeddings.patch_embeddings.projection"),
    *_pair("norm", "layernorm"),
]
VISION_BLOCK_KEYS: list[Rule] = [
    *_pair("blocks.{i}.norm1", "encoder.layer.{i}.norm1"),
    *(
        rule(f"blocks.{{i}}.attn.qkv.{p}",
             *(f"encoder.layer.{{i}}.attention.{x}_proj.{p}" for x in "qkv"))
        for p in ("weight", "bias")
    ),
    *_pair("blocks.{i}.attn.proj", "encoder.layer.{i}.attention.o_proj"),
    rule("blocks.{i}.ls1.gamma", "encoder.layer.{i}.layer_scale1.lambda1"),
    *_pair("blocks.{i}.norm2", "encoder.layer.{i}.norm2"),
    rule("blocks.{i}.ls2.gamma", "encoder.layer.{i}.layer_scale2.lambda1"),
]
VISION_MLP_KEYS: list[Rule] = [
    *_pair("blocks.{i}.mlp.fc1", "encoder.layer.{i}.mlp.fc1"),
    *_pair("blocks.{i}.mlp.fc2", "encoder.layer.{i}.mlp.fc2"),
]
VISION_SWIGLU_KEYS: list[Rule] = [
    *(
        rule(f"blocks.{{i}}.mlp.w12.{p}",
             f"encoder.layer.{{i}}.mlp.gate_proj.{p}", f"encoder.layer.{{i}}.mlp.up_proj.{p}")
        for p in ("weight", "bias")
    ),
    *_pair("blocks.{i}.mlp.w3", "encoder.layer.{i}.mlp.down_proj"),
]

TEXT_KEYS: list[Rule] = [
    rule("token_embedding.weight", "embeddings.token_embedding.weight"),
    *_pair("ln_final", "final_layer_norm"),
]
TEXT_BLOCK_KEYS: list[Rule] = [
    rule("transformer.resblocks.{i}.attn.in_proj_weight",
         *(f"encoder.layers.{{i}}.self_attn.{x}_proj.weight" for x in "qkv")),
    rule("transformer.resblocks.{i}.attn.in_proj_bias",
         *(f"encoder.layers.{{i}}.self_attn.{x}_proj.bias" for x in "qkv")),
    *_pair("transformer.resblocks.{i}.attn.out_proj", "encoder.layers.{i}.self_attn.out_proj"),
    *_pair("transformer.resblocks.{i}.ln_1", "encoder.layers.{i}.layer_norm1"),
    *_pair("transformer.resblocks.{i}.ln_2", "encoder.layers.{i}.layer_norm2"),
    *_pair("transformer.resblocks.{i}.mlp.c_fc", "encoder.layers.{i}.mlp.fc1"),
    *_pair("transformer.resblocks.{i}.mlp.c_proj", "encoder.layers.{i}.mlp.fc2"),
]
#: text npz keys that are not weights of the text tower (the contrastive temperature)
TEXT_IGNORED = re.compile(r"^temperature")

#: The DPT output-layer names the authors' ``load_decoder_weights`` accepts -> task. Scenic
#: names the ``Dense`` layer per task; ``segmentation_head`` is the name of their first PyTorch
#: conversions. ``pixel_depth_regress`` is accepted as long as it has one output per depth bin.
HEAD_TASKS: dict[str, str] = {
    "pixel_depth_classif": "depth", "pixel_depth_regress": "depth", "pixel_normals": "normals",
    "pixel_segmentation": "segmentation", "segmentation_head": "segmentation",
}
#: task -> output layer written by :func:`~.writers.export_dpt` (the names in the released zips)
EXPORT_HEADS: dict[str, str] = {
    "depth": "pixel_depth_classif", "normals": "pixel_normals",
    "segmentation": "pixel_segmentation",
}
TASKS: tuple[str, ...] = tuple(EXPORT_HEADS)
#: legacy flat PyTorch layout: the DPT body's modules without the ``dpt.`` prefix
LEGACY_BODY = ("reassemble.", "convs.", "fusion_blocks.", "project.")


@dataclass(frozen=True)
class DptLayer:
    """One layer of the DPT body under its three names.

    ``scenic``: path below ``[decoder/]dpt/`` in the Flax tree (leaves ``kernel``, ``bias``);
    ``torch``: module below ``dpt.`` in the authors' PyTorch ``Decoder`` (``weight``, ``bias``);
    ``ours``: the Hugging Face module (``{task}`` filled in per head); ``layout``: the Flax
    kernel layout (see :func:`to_ours`).
    """

    scenic: str
    torch: str
    ours: str
    layout: str
    bias: bool = True


def _fusion_layers(i: int, neck: str) -> list[DptLayer]:
    """Return the layers of fusion block ``i`` of the neck ``neck``."""
    fusion = f"{neck}.fusion_stage.layers.{i}"
    # Flax names the units in creation order: the residual unit (blocks 1-3) comes first.
    units = [("main_unit", "residual_layer2")] if i == 0 else [
        ("residual_unit", "residual_layer1"), ("main_unit", "residual_layer2")]
    layers = [
        DptLayer(f"fusion_blocks_{i}/PreActResidualConvUnit_{n}/conv{c}",
                 f"fusion_blocks.{i}.{theirs}.conv{c}", f"{fusion}.{ours}.convolution{c}",
                 "conv", bias=False)
        for n, (theirs, ours) in enumerate(units) for c in (1, 2)
    ]
    layers.append(DptLayer(f"fusion_blocks_{i}/Conv_0", f"fusion_blocks.{i}.out_conv",
                           f"{fusion}.projection", "conv"))
    return layers


def _dpt_layers() -> list[DptLayer]:
    """Return the DPT body of one task, following the authors' Scenic -> PyTorch loader."""
    neck, rb = "{task}_neck", "reassemble_blocks"
    layers: list[DptLayer] = []
    for i in range(4):
        layers += [
            DptLayer(f"{rb}/out_projection_{i}", f"reassemble.out_projections.{i}",
                     f"{neck}.reassemble_stage.layers.{i}.projection", "conv"),
            DptLayer(f"{rb}/readout_projects_{i}", f"reassemble.readout_projects.{i}",
                     f"{neck}.reassemble_stage.readout_projects.{i}.layers.0", "dense"),
            DptLayer(f"convs_{i}", f"convs.{i}", f"{neck}.convs.{i}", "conv", bias=False),
            *_fusion_layers(i, neck),
        ]
    for i, layout in ((0, "convT"), (1, "convT"), (3, "conv")):
        layers.append(DptLayer(f"{rb}/resize_layers_{i}", f"reassemble.resize_layers.{i}",
                               f"{neck}.reassemble_stage.layers.{i}.resize", layout))
    layers.append(DptLayer("project", "project", "{task}_decoder.project", "conv"))
    return layers


DPT_LAYERS: list[DptLayer] = _dpt_layers()


@dataclass(frozen=True)
class DptFile:
    """One DPT checkpoint (one task) and the naming it uses.

    ``flax``: a Scenic/Flax tree (kernels in Flax layout) or a PyTorch state dict. ``body``:
    the prefix of the DPT body's names (``decoder/dpt/`` or ``dpt/`` in Flax trees, ``dpt.``
    or ``""`` for the legacy flat PyTorch layout); ``head``: the output layer's name
    (``[decoder/]pixel_normals``, ``head``, ``segmentation_head``, ...); ``outputs``: its output
    channels (depth bins, 3 normal components, classes).
    """

    path: Path
    task: str
    flax: bool
    body: str
    head: str
    outputs: int
    arrays: dict[str, np.ndarray]


def to_ours(array: np.ndarray, layout: str) -> np.ndarray:
    """Return the authors' ``array`` in the given layout, in the torch layout."""
    if layout == "dense":
        return array.T
    if layout == "conv":
        return array.transpose(3, 2, 0, 1)
    if layout == "convT":
        return array[::-1, ::-1].transpose(2, 3, 0, 1)
    return array


def to_theirs(array: np.ndarray, layout: str) -> np.ndarray:
    """Return a torch-layout ``array`` in the authors' ``layout`` (inverse of :func:`to_ours`)."""
    if layout == "dense":
        return array.T
    if layout == "conv":
        return array.transpose(2, 3, 1, 0)
    if layout == "convT":
        return array.transpose(2, 3, 0, 1)[::-1, ::-1]
    return array
