# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Reading the authors' files: ``.npz`` towers, DPT heads in every layout, the architecture."""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tips_ros.engine.testmodel import dpt_indices, ModelShape, SIZES
from tips_ros.errors import ConversionError, UsageError
from tips_ros.tools.convert.mapping import block_count
from tips_ros.tools.convert.tables import DptFile, HEAD_TASKS, LEGACY_BODY

#: what a DPT checkpoint must look like, for error messages
DPT_EXPECTED = (
    "a Scenic zip of .npy leaves ([decoder/]dpt/..., [decoder/]pixel_{depth_classif,normals,"
    "segmentation}/kernel) or the authors' PyTorch .npz (dpt.reassemble..., head.weight, or the "
    "legacy flat reassemble..., segmentation_head.weight)"
)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Return all arrays of an ``.npz`` (no pickles)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file '{path}' does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise ConversionError(f"'{path}' is not a readable .npz file ({err})") from err


def _read_leaves(path: Path) -> dict[str, np.ndarray]:
    """Return the ``.npy`` leaves of a zip (an ``.npz`` is one too), by name without suffix."""
    if not path.is_file():
        raise FileNotFoundError(f"DPT checkpoint '{path}' does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            return {
                name[: -len(".npy")]: np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
                for name in zf.namelist() if name.endswith(".npy")
            }
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise ConversionError(
            f"'{path}' is not a DPT checkpoint ({err}); expected {DPT_EXPECTED}") from err


def _naming(path: Path, arrays: Mapping[str, Any]) -> tuple[bool, str, str, str]:
    """Return (flax, separator, body prefix, output layer) of a DPT checkpoint's names."""
    if any("/" in key for key in arrays):
        prefix = "decoder/" if all(k.startswith("decoder/") for k in arrays) else ""
        flax, sep, body = True, "/", prefix + "dpt/"
        heads = [prefix + h for h in HEAD_TASKS if f"{prefix}{h}/kernel" in arrays]
    else:
        flax, sep = False, "."
        body = "dpt." if any(k.startswith("dpt.") for k in arrays) else ""
        heads = [h for h in ("head", *HEAD_TASKS) if f"{h}.weight" in arrays]
    if not any(k.startswith(body or LEGACY_BODY) for k in arrays):
        raise ConversionError(f"'{path}' is not a DPT checkpoint; expected {DPT_EXPECTED}")
    if len(heads) != 1:
        raise ConversionError(
            f"'{path}' has {'no' if not heads else 'more than one'} DPT output layer; expected "
            f"exactly one of {', '.join(HEAD_TASKS)} (or head in a PyTorch .npz)"
        )
    return flax, sep, body, heads[0]


def read_dpt(path: str | Path) -> DptFile:
    """Read one DPT checkpoint in any layout the authors' ``load_decoder_weights`` reads.

    * Scenic/Flax zips of ``.npy`` leaves, with or without the ``decoder/`` prefix, output
      layer ``pixel_depth_classif``, ``pixel_depth_regress``, ``pixel_normals``,
      ``pixel_segmentation`` or ``segmentation_head``;
    * ``.npz`` state dicts of their PyTorch ``Decoder``
      (``dpt.reassemble.out_projections.0.weight``, ..., ``head.weight``), or the legacy
      flat layout (``reassemble...``, ``convs...``, ``fusion_blocks...``, ``project...`` and
      a named head such as ``segmentation_head.weight``).

    The task comes from the output layer's name; a PyTorch ``head`` says nothing, so the file
    name (``*_depth_*``, ``*_normals_*``, ``*_segmentation_*``, as the authors name them) or
    three outputs (normals) decide.
    """
    path = Path(path)
    arrays = _read_leaves(path)
    flax, sep, body, head = _naming(path, arrays)
    kernel = arrays[f"{head}{sep}{'kernel' if flax else 'weight'}"]
    outputs = int(kernel.shape[-1] if flax else kernel.shape[0]) if kernel.ndim == 2 else 0
    task = HEAD_TASKS.get(head.rsplit("/", 1)[-1]) or _task_from_name(path, outputs)
    if task == "depth" and outputs == 1:
        raise ConversionError(
            f"'{path}' holds a one-channel depth regression head ({head}), which the bin-based "
            "depth head cannot hold; expected pixel_depth_classif (or pixel_depth_regress) with "
            "one output per depth bin"
        )
    return DptFile(path, task, flax, body, head, outputs, arrays)


def _task_from_name(path: Path, outputs: int) -> str:
    """Return the task of a PyTorch ``head`` from the file name, else 3 outputs = normals."""
    words = {"normals" if w == "normal" else w
             for w in re.findall(r"depth|normals?|segmentation", path.name.lower())}
    if len(words) == 1:
        return words.pop()
    if not words and outputs == 3:
        return "normals"
    raise ConversionError(
        f"cannot tell which task the head of '{path}' is for; name the file "
        "*_depth_*, *_normals_* or *_segmentation_* as the authors do"
    )


def _base_size(width: int, variant: str | None) -> ModelShape:
    """Return the size whose attention heads the checkpoint gets: ``variant``'s or by width."""
    if variant is not None:
        if variant not in SIZES:
            raise UsageError(f"unknown variant '{variant}'; choose one of {', '.join(SIZES)}")
        base = SIZES[variant]
    else:
        matches = [s for s in SIZES.values() if s.hidden_size == width]
        if not matches:
            raise ConversionError(
                f"no known TIPS size has width {width}; pass --variant ({', '.join(SIZES)})"
            )
        base = matches[0]
    if base.hidden_size != width:
        raise ConversionError(
            f"variant width {base.hidden_size} does not match the checkpoint's {width}")
    return base


def _ffn(vision: Mapping[str, np.ndarray], base: ModelShape, width: int) -> tuple[bool, float]:
    """Return (SwiGLU or not, FFN width ratio) of the vision blocks."""
    if "blocks.0.mlp.w12.weight" in vision:
        ffn = int(vision["blocks.0.mlp.w12.weight"].shape[0]) // 2
        ratio = next((r for r in (base.mlp_ratio, 4)
                      if (int(width * r * 2 / 3) + 7) // 8 * 8 == ffn), ffn * 1.5 / width)
        return True, ratio
    fc1 = vision.get("blocks.0.mlp.fc1.weight")
    ffn = int(fc1.shape[0]) if fc1 is not None else width * 4
    return False, ffn / width


def infer_shape(vision: Mapping[str, np.ndarray], text: Mapping[str, np.ndarray] | None = None,
                variant: str | None = None) -> ModelShape:
    """Return the architecture of the authors' checkpoint, from its tensor shapes.

    Width, depth, FFN type/width, position grid, text depth/FFN/vocabulary come from shapes;
    the attention heads (not visible in any shape) from ``SIZES[variant]`` or, without a
    variant, from the size in :data:`tips_ros.engine.testmodel.SIZES` with the same width.
    """
    for key in ("cls_token", "pos_embed", "blocks.0.norm1.weight"):
        if key not in vision:
            raise ConversionError(f"vision checkpoint has no '{key}'; is it a TIPS *_vision.npz?")
    width = int(vision["cls_token"].shape[-1])
    positions = int(vision["pos_embed"].shape[1]) - 1
    grid = math.isqrt(positions)
    if grid * grid != positions:
        raise ConversionError(f"pos_embed has {positions} patch positions, not a square grid")
    base = _base_size(width, variant)
    layers = block_count(vision, r"blocks\.(\d+)\.")
    swiglu, ratio = _ffn(vision, base, width)
    fields: dict[str, Any] = {
        "vision_layers": layers, "mlp_ratio": ratio, "use_swiglu_ffn": swiglu, "pos_grid": grid,
        "dpt_indices": dpt_indices(layers),
    }
    if text is not None and "token_embedding.weight" in text:
        fields["vocab_size"] = int(text["token_embedding.weight"].shape[0])
        fields["text_layers"] = block_count(text, r"transformer\.resblocks\.(\d+)\.")
        fc = text.get("transformer.resblocks.0.mlp.c_fc.weight")
        if fc is not None:
            fields["text_intermediate"] = int(fc.shape[0])
    return replace(base, **fields)
