# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros convert``: the TIPS authors' checkpoint files -> Hugging Face-format directories.

The authors publish, for TIPSv1 and TIPSv2, a PyTorch vision encoder ``*_vision.npz`` (the
state dict of their DINOv2-style ``VisionTransformer``), a text encoder ``*_text.npz``, one
SentencePiece ``tokenizer.model``, and DPT heads, one file per task (depth, normals,
segmentation): Scenic/Flax zips of ``.npy`` leaves, or ``.npz`` state dicts of their PyTorch
``Decoder`` (see :func:`read_dpt` for every layout their ``load_decoder_weights`` accepts).
``convert`` writes

* ``OUT/text``: ``Tipsv2Model`` (vision + text towers) and ``Tipsv2Tokenizer``, like
  ``google/tipsv2-b14``;
* ``OUT/dpt``: ``Tipsv2DptForDensePrediction`` (the vision npz + the three DPT heads), like
  ``google/tipsv2-b14-dpt``;

both loadable with ``from_pretrained`` (safetensors), so the node takes them like a hub
download. The architecture comes from the tensor shapes (width, depth, FFN type, position grid
16x16 for v1 or 32x32 for v2); only the number of attention heads, which no shape shows, comes
from the size table in :mod:`tips_ros.engine.testmodel` (matched by width, or ``--variant``).

Every name mapping is in one table per file type (:data:`VISION_KEYS`, :data:`TEXT_KEYS`,
:data:`DPT_LAYERS`), used in both directions: :func:`convert` reads the authors' layout and the
``export_*`` functions write it from a Hugging Face model. Unknown or missing keys and wrong
shapes are all collected and reported in one error before anything is written. The tests
check the tables against files and outputs made by the authors' own code
(``test/test_authors.py``), not only against these writers.

The authors' DPT heads (like Scenic's) have no activation after the depth decoder's ``project``
conv, while ``transformers`` applies a ReLU there by default; converted DPT checkpoints
therefore set ``depth_decoder_activation="linear"`` (identity).
"""

from __future__ import annotations

import argparse
import io
import math
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import (
    Tipsv2Config,
    Tipsv2DptForDensePrediction,
    Tipsv2Model,
    Tipsv2Tokenizer,
)

from tips_ros.errors import UsageError
from tips_ros.engine.loading import ModelLoadError
from tips_ros.engine.testmodel import SIZES, ModelShape, dpt_indices

#: text ids are padded/truncated to this many tokens, as in the authors' tokenizer
MAX_TOKENS = 64
#: identity activation name in ``transformers.activations.ACT2FN``
IDENTITY_ACTIVATION = "linear"
#: ``TrainerSpec.model_type`` of a BPE SentencePiece model
BPE_MODEL_TYPE = 2


class ConversionError(ModelLoadError):
    """The input files do not have the authors' layout; the message lists every problem."""


# --------------------------------------------------------------------------- key tables
# Each row: (authors' key, Hugging Face key(s), layout). ``{i}`` is a block index. Several
# Hugging Face keys mean the authors' tensor is their concatenation along dim 0 (fused
# q/k/v, fused SwiGLU gate/up). Layouts: "same" (identical array), "dense" (Flax (in, out) ->
# torch (out, in)), "conv" (Flax HWIO -> torch OIHW), "convT" (Flax ConvTranspose HWIO with no
# kernel flip -> torch (in, out, H, W), spatially flipped).


@dataclass(frozen=True)
class Rule:
    """One row of a key table."""

    theirs: str
    ours: tuple[str, ...]
    layout: str = "same"
    optional: bool = False


def _rule(theirs: str, *ours: str, layout: str = "same", optional: bool = False) -> Rule:
    return Rule(theirs, ours, layout, optional)


def _pair(theirs: str, ours: str, layout: str = "same") -> list[Rule]:
    """Rules for a layer's ``weight`` (or ``kernel``) and ``bias``."""
    weight = "kernel" if layout != "same" else "weight"
    sep = "/" if layout != "same" else "."
    return [
        _rule(f"{theirs}{sep}{weight}", f"{ours}.weight", layout=layout),
        _rule(f"{theirs}{sep}bias", f"{ours}.bias", layout="same"),
    ]


VISION_KEYS: list[Rule] = [
    _rule("cls_token", "embeddings.cls_token"),
    _rule("pos_embed", "embeddings.position_embeddings"),
    _rule("register_tokens", "embeddings.register_tokens"),
    # DINOv2's mask token is only used in training; taken when present, zeros otherwise.
    _rule("mask_token", "embeddings.mask_token", optional=True),
    *_pair("patch_embed.proj", "embeddings.patch_embeddings.projection"),
    *_pair("norm", "layernorm"),
]
VISION_BLOCK_KEYS: list[Rule] = [
    *_pair("blocks.{i}.norm1", "encoder.layer.{i}.norm1"),
    *(
        _rule(f"blocks.{{i}}.attn.qkv.{p}",
              *(f"encoder.layer.{{i}}.attention.{x}_proj.{p}" for x in "qkv"))
        for p in ("weight", "bias")
    ),
    *_pair("blocks.{i}.attn.proj", "encoder.layer.{i}.attention.o_proj"),
    _rule("blocks.{i}.ls1.gamma", "encoder.layer.{i}.layer_scale1.lambda1"),
    *_pair("blocks.{i}.norm2", "encoder.layer.{i}.norm2"),
    _rule("blocks.{i}.ls2.gamma", "encoder.layer.{i}.layer_scale2.lambda1"),
]
VISION_MLP_KEYS: list[Rule] = [
    *_pair("blocks.{i}.mlp.fc1", "encoder.layer.{i}.mlp.fc1"),
    *_pair("blocks.{i}.mlp.fc2", "encoder.layer.{i}.mlp.fc2"),
]
VISION_SWIGLU_KEYS: list[Rule] = [
    *(
        _rule(f"blocks.{{i}}.mlp.w12.{p}",
              f"encoder.layer.{{i}}.mlp.gate_proj.{p}", f"encoder.layer.{{i}}.mlp.up_proj.{p}")
        for p in ("weight", "bias")
    ),
    *_pair("blocks.{i}.mlp.w3", "encoder.layer.{i}.mlp.down_proj"),
]

TEXT_KEYS: list[Rule] = [
    _rule("token_embedding.weight", "embeddings.token_embedding.weight"),
    *_pair("ln_final", "final_layer_norm"),
]
TEXT_BLOCK_KEYS: list[Rule] = [
    _rule("transformer.resblocks.{i}.attn.in_proj_weight",
          *(f"encoder.layers.{{i}}.self_attn.{x}_proj.weight" for x in "qkv")),
    _rule("transformer.resblocks.{i}.attn.in_proj_bias",
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
#: task -> output layer written by :func:`export_dpt` (the names in the released zips)
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
    kernel layout (see :func:`_to_ours`).
    """

    scenic: str
    torch: str
    ours: str
    layout: str
    bias: bool = True


def _dpt_layers() -> list[DptLayer]:
    """The DPT body of one task, following the authors' Scenic -> PyTorch loader."""
    neck, rb = "{task}_neck", "reassemble_blocks"
    layers: list[DptLayer] = []
    for i in range(4):
        fusion = f"{neck}.fusion_stage.layers.{i}"
        layers += [
            DptLayer(f"{rb}/out_projection_{i}", f"reassemble.out_projections.{i}",
                     f"{neck}.reassemble_stage.layers.{i}.projection", "conv"),
            DptLayer(f"{rb}/readout_projects_{i}", f"reassemble.readout_projects.{i}",
                     f"{neck}.reassemble_stage.readout_projects.{i}.layers.0", "dense"),
            DptLayer(f"convs_{i}", f"convs.{i}", f"{neck}.convs.{i}", "conv", bias=False),
        ]
        # Flax names the units in creation order: the residual unit (blocks 1-3) comes first.
        units = [("main_unit", "residual_layer2")] if i == 0 else [
            ("residual_unit", "residual_layer1"), ("main_unit", "residual_layer2")]
        for n, (theirs, ours) in enumerate(units):
            layers += [
                DptLayer(f"fusion_blocks_{i}/PreActResidualConvUnit_{n}/conv{c}",
                         f"fusion_blocks.{i}.{theirs}.conv{c}", f"{fusion}.{ours}.convolution{c}",
                         "conv", bias=False)
                for c in (1, 2)
            ]
        layers.append(DptLayer(f"fusion_blocks_{i}/Conv_0", f"fusion_blocks.{i}.out_conv",
                               f"{fusion}.projection", "conv"))
    for i, layout in ((0, "convT"), (1, "convT"), (3, "conv")):
        layers.append(DptLayer(f"{rb}/resize_layers_{i}", f"reassemble.resize_layers.{i}",
                               f"{neck}.reassemble_stage.layers.{i}.resize", layout))
    layers.append(DptLayer("project", "project", "{task}_decoder.project", "conv"))
    return layers


DPT_LAYERS: list[DptLayer] = _dpt_layers()


def _to_ours(array: np.ndarray, layout: str) -> np.ndarray:
    """The authors' array in the given layout -> the torch layout."""
    if layout == "dense":
        return array.T
    if layout == "conv":
        return array.transpose(3, 2, 0, 1)
    if layout == "convT":
        return array[::-1, ::-1].transpose(2, 3, 0, 1)
    return array


def _to_theirs(array: np.ndarray, layout: str) -> np.ndarray:
    """Inverse of :func:`_to_ours`."""
    if layout == "dense":
        return array.T
    if layout == "conv":
        return array.transpose(2, 3, 1, 0)
    if layout == "convT":
        return array.transpose(2, 3, 0, 1)[::-1, ::-1]
    return array


def _expand(rules: Iterable[Rule], **fields: object) -> list[Rule]:
    """Fill the ``{i}`` (block index) placeholders of the rules."""
    return [
        Rule(r.theirs.format(**fields), tuple(o.format(**fields) for o in r.ours), r.layout, r.optional)
        for r in rules
    ]


# --------------------------------------------------------------------------- mapping
def _map_to_ours(
    theirs: Mapping[str, np.ndarray], rules: list[Rule], expected: Mapping[str, torch.Size],
    what: str, prefix: str = "", ignored: re.Pattern[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Apply ``rules`` to the authors' tensors; one :class:`ConversionError` lists every problem.

    ``expected`` holds the target model's shapes; its keys are ``prefix`` + the table's names.
    """
    out: dict[str, torch.Tensor] = {}
    known = {r.theirs for r in rules}
    unknown = sorted(k for k in theirs if k not in known and not (ignored and ignored.match(k)))
    missing = sorted(r.theirs for r in rules if r.theirs not in theirs and not r.optional)
    bad: list[str] = []
    for rule in rules:
        if rule.theirs not in theirs:
            continue
        array = _to_ours(np.asarray(theirs[rule.theirs]), rule.layout)
        parts = np.split(array, len(rule.ours), axis=0) if array.ndim and array.shape[0] % len(rule.ours) == 0 else None
        shapes = [tuple(expected.get(prefix + o, ())) for o in rule.ours]
        if parts is None or any(p.shape != s for p, s in zip(parts, shapes)):
            want = "+".join(str(s) for s in shapes)
            bad.append(f"{rule.theirs} {tuple(np.asarray(theirs[rule.theirs]).shape)} (expected {want})")
            continue
        for name, part in zip(rule.ours, parts):
            out[prefix + name] = torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))
    problems = []
    if unknown:
        problems.append(f"unknown keys {_short(unknown)}")
    if missing:
        problems.append(f"missing keys {_short(missing)}")
    if bad:
        problems.append(f"wrong shapes {_short(bad)}")
    if problems:
        raise ConversionError(f"{what} does not have the authors' layout: " + "; ".join(problems))
    return out


def _short(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _map_to_theirs(ours: Mapping[str, torch.Tensor], rules: list[Rule]) -> dict[str, np.ndarray]:
    """Inverse of :func:`_map_to_ours` (for writers of the authors' layout)."""
    return {
        r.theirs: np.ascontiguousarray(
            _to_theirs(np.concatenate([ours[o].detach().float().numpy() for o in r.ours], axis=0), r.layout)
        )
        for r in rules
    }


def _block_count(keys: Iterable[str], pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def _vision_rules(keys: Iterable[str], layers: int) -> list[Rule]:
    swiglu = any(".mlp.w12." in k for k in keys)
    per_block = VISION_BLOCK_KEYS + (VISION_SWIGLU_KEYS if swiglu else VISION_MLP_KEYS)
    return VISION_KEYS + [r for i in range(layers) for r in _expand(per_block, i=i)]


def _text_rules(layers: int) -> list[Rule]:
    return TEXT_KEYS + [r for i in range(layers) for r in _expand(TEXT_BLOCK_KEYS, i=i)]


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


def _dpt_rules(dpt: DptFile) -> list[Rule]:
    """Rules from ``dpt``'s names to the Hugging Face ``{task}_neck``/``{task}_decoder``."""
    sep, weight = ("/", "kernel") if dpt.flax else (".", "weight")
    layers = [*DPT_LAYERS, DptLayer("", "", "{task}_decoder.head", "dense")]
    rules = []
    for layer in layers:
        body_name = layer.scenic if dpt.flax else layer.torch
        theirs = dpt.body + body_name if layer.scenic else dpt.head
        ours = layer.ours.format(task=dpt.task)
        rules.append(_rule(f"{theirs}{sep}{weight}", f"{ours}.weight",
                           layout=layer.layout if dpt.flax else "same"))
        if layer.bias:
            rules.append(_rule(f"{theirs}{sep}bias", f"{ours}.bias"))
    return rules


# --------------------------------------------------------------------------- shapes
def infer_shape(vision: Mapping[str, np.ndarray], text: Mapping[str, np.ndarray] | None = None,
                variant: str | None = None) -> ModelShape:
    """The architecture of the authors' checkpoint, from its tensor shapes.

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
        raise ConversionError(f"variant width {base.hidden_size} does not match the checkpoint's {width}")
    layers = _block_count(vision, r"blocks\.(\d+)\.")
    swiglu = "blocks.0.mlp.w12.weight" in vision
    if swiglu:
        ffn = int(vision["blocks.0.mlp.w12.weight"].shape[0]) // 2
        ratio = next((r for r in (base.mlp_ratio, 4) if (int(width * r * 2 / 3) + 7) // 8 * 8 == ffn),
                     ffn * 1.5 / width)
    else:
        ffn = int(vision["blocks.0.mlp.fc1.weight"].shape[0]) if "blocks.0.mlp.fc1.weight" in vision else width * 4
        ratio = ffn / width
    fields = dict(
        vision_layers=layers, mlp_ratio=ratio, use_swiglu_ffn=swiglu, pos_grid=grid,
        dpt_indices=dpt_indices(layers),
    )
    if text is not None and "token_embedding.weight" in text:
        fields.update(
            vocab_size=int(text["token_embedding.weight"].shape[0]),
            text_layers=_block_count(text, r"transformer\.resblocks\.(\d+)\."),
        )
        fc = text.get("transformer.resblocks.0.mlp.c_fc.weight")
        if fc is not None:
            fields["text_intermediate"] = int(fc.shape[0])
    return replace(base, **fields)


def _expected(model: torch.nn.Module) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- file readers
def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (no pickles)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file '{path}' does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise ConversionError(f"'{path}' is not a readable .npz file ({err})") from err


#: what a DPT checkpoint must look like, for error messages
DPT_EXPECTED = (
    "a Scenic zip of .npy leaves ([decoder/]dpt/..., [decoder/]pixel_{depth_classif,normals,"
    "segmentation}/kernel) or the authors' PyTorch .npz (dpt.reassemble..., head.weight, or the "
    "legacy flat reassemble..., segmentation_head.weight)"
)


def read_dpt(path: str | Path) -> DptFile:
    """One DPT checkpoint in any layout the authors' ``load_decoder_weights`` reads.

    * Scenic/Flax zips of ``.npy`` leaves, with or without the ``decoder/`` prefix, output
      layer ``pixel_depth_classif``, ``pixel_depth_regress``, ``pixel_normals``,
      ``pixel_segmentation`` or ``segmentation_head``;
    * ``.npz`` state dicts of their PyTorch ``Decoder``
      (``dpt.reassemble.out_projections.0.weight``, ..., ``head.weight``), or the legacy flat layout (``reassemble...``, ``convs...``,
      ``fusion_blocks...``, ``project...`` and a named head such as ``segmentation_head.weight``).

    The task comes from the output layer's name; a PyTorch ``head`` says nothing, so the file
    name (``*_depth_*``, ``*_normals_*``, ``*_segmentation_*``, as the authors name them) or
    three outputs (normals) decide.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DPT checkpoint '{path}' does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            arrays = {
                name[: -len(".npy")]: np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
                for name in zf.namelist() if name.endswith(".npy")
            }
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise ConversionError(
            f"'{path}' is not a DPT checkpoint ({err}); expected {DPT_EXPECTED}") from err
    if any("/" in key for key in arrays):
        flax, sep = True, "/"
        prefix = "decoder/" if all(k.startswith("decoder/") for k in arrays) else ""
        body = prefix + "dpt/"
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
    head = heads[0]
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
    """The task of a PyTorch ``head`` from the file name, else 3 outputs = normals."""
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


# --------------------------------------------------------------------------- tokenizer
def convert_tokenizer(path: str | Path) -> Tipsv2Tokenizer:
    """A ``Tipsv2Tokenizer`` giving the ids of the SentencePiece BPE model ``path``.

    The conversion is transformers' own (``SentencePieceExtractor`` reads the model with
    ``protobuf``; pieces, merges by piece order, the model's NFKC normaliser), as
    ``Tipsv2Tokenizer.from_pretrained`` does for a ``tokenizer.model``. Like the authors'
    tokenizer, text is lower-cased and ``<pad>``/``<unk>`` written in a prompt are plain text.
    Needs the ``convert`` extra (``sentencepiece``, ``protobuf``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file '{path}' does not exist")
    try:
        from google.protobuf.message import DecodeError
        from transformers.convert_slow_tokenizer import SentencePieceExtractor

        proto = SentencePieceExtractor(str(path)).proto
    except ImportError as err:
        raise UsageError(
            "converting tokenizer.model needs sentencepiece and protobuf: "
            "pip install 'tips_ros[convert]'"
        ) from err
    except (DecodeError, OSError) as err:
        raise ConversionError(f"'{path}' is not a SentencePiece model ({err})") from err
    if not proto.pieces or proto.trainer_spec.model_type != BPE_MODEL_TYPE:
        raise ConversionError(
            f"'{path}' is not a BPE SentencePiece model; Tipsv2Tokenizer is BPE only"
        )
    if not (proto.normalizer_spec.add_dummy_prefix
            and proto.normalizer_spec.remove_extra_whitespaces):
        raise ConversionError(
            f"'{path}' disables the dummy prefix or whitespace folding, which Tipsv2Tokenizer "
            "always applies"
        )
    if proto.pieces[0].piece != "<pad>":
        raise ConversionError(f"'{path}' does not have <pad> as id 0, as TIPS requires")
    fields = Tipsv2Tokenizer.convert_to_native_format(vocab_file=str(path))
    fields.pop("vocab_file")  # the result is self-contained (tokenizer.json)
    return Tipsv2Tokenizer(**fields, model_max_length=MAX_TOKENS, split_special_tokens=True)


# --------------------------------------------------------------------------- convert
@dataclass(frozen=True)
class Converted:
    """What :func:`convert` wrote."""

    shape: ModelShape
    text_dir: Path | None
    dpt_dir: Path | None


def convert(vision: str | Path, output: str | Path, *, text: str | Path | None = None,
            tokenizer: str | Path | None = None, dpt: Iterable[str | Path] = (),
            variant: str | None = None, overwrite: bool = False) -> Converted:
    """Convert the authors' files into ``output/text`` and/or ``output/dpt``.

    ``text`` needs ``tokenizer``; ``dpt`` takes the depth, normals and segmentation zips. All
    inputs are read, mapped and shape-checked before anything is written; the directories are
    written to a temporary sibling and moved into place at the end.
    """
    dpt = list(dpt)
    if text is None and not dpt:
        raise UsageError("nothing to convert: give --text (with --tokenizer) and/or --dpt")
    if (text is None) != (tokenizer is None):
        raise UsageError("--text and --tokenizer go together (the text model needs its tokenizer)")
    output = Path(output)
    targets = ([output / "text"] if text is not None else []) + ([output / "dpt"] if dpt else [])
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass --overwrite to replace")

    vision_arrays = read_npz(vision)
    text_arrays = read_npz(text) if text is not None else None
    shape = infer_shape(vision_arrays, text_arrays, variant)
    transformers.logging.disable_progress_bar()
    vision_rules = _vision_rules(vision_arrays, shape.vision_layers)

    text_model = tok = dpt_model = None
    if text_arrays is not None:
        with torch.device("meta"):
            probe = Tipsv2Model(Tipsv2Config(vision_config=shape.vision_config(),
                                              text_config=shape.text_config()))
        shapes = _expected(probe)
        state = _map_to_ours(vision_arrays, vision_rules, shapes, f"vision checkpoint '{vision}'",
                             "vision_model.")
        state.update(_map_to_ours(text_arrays, _text_rules(shape.text_layers), shapes,
                                  f"text checkpoint '{text}'", "text_model.", TEXT_IGNORED))
        tok = convert_tokenizer(tokenizer)
        if len(tok) > shape.vocab_size:
            raise ConversionError(
                f"tokenizer '{tokenizer}' has {len(tok)} pieces but the text model only {shape.vocab_size} embeddings"
            )
        text_model = (probe, state)
    if dpt:
        files: dict[str, DptFile] = {}
        for path in dpt:
            read = read_dpt(path)
            if read.task in files:
                raise UsageError(f"two --dpt files hold the {read.task} head; give one per task")
            files[read.task] = read
        if set(files) != set(TASKS):
            absent = sorted(set(TASKS) - set(files))
            raise UsageError("the DPT model needs the depth, normals and segmentation heads; "
                             f"missing: {', '.join(absent)}")
        config = shape.dpt_config()
        config.depth_decoder_activation = IDENTITY_ACTIVATION
        config.num_depth_bins = files["depth"].outputs
        config.num_labels = files["segmentation"].outputs
        if config.num_labels != len(config.id2label):
            config.id2label = {i: f"class_{i}" for i in range(config.num_labels)}
            config.label2id = {v: k for k, v in config.id2label.items()}
        with torch.device("meta"):
            probe_dpt = Tipsv2DptForDensePrediction(config)
        shapes = _expected(probe_dpt)
        state = _map_to_ours(vision_arrays, vision_rules, shapes, f"vision checkpoint '{vision}'",
                             "backbone.")
        for read in files.values():
            state.update(_map_to_ours(read.arrays, _dpt_rules(read), shapes,
                                      f"DPT checkpoint '{read.path}'"))
        dpt_model = (config, state)

    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=output))
    try:
        text_dir = dpt_dir = None
        if text_model is not None:
            probe, state = text_model
            model = Tipsv2Model(probe.config)
            _load(model, state, ignore_missing={"temperature", "vision_model.embeddings.mask_token"})
            model.save_pretrained(staging / "text")
            tok.save_pretrained(staging / "text")
            text_dir = output / "text"
        if dpt_model is not None:
            config, state = dpt_model
            model = Tipsv2DptForDensePrediction(config)
            _load(model, state, ignore_missing={"backbone.embeddings.mask_token"})
            model.save_pretrained(staging / "dpt")
            dpt_dir = output / "dpt"
        for name in ("text", "dpt"):
            if (staging / name).exists():
                if (output / name).exists():
                    shutil.rmtree(output / name)
                (staging / name).rename(output / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Converted(shape, text_dir, dpt_dir)


def _load(model: torch.nn.Module, state: dict[str, torch.Tensor], ignore_missing: set[str]) -> None:
    """Load ``state``; the mask token (training only) and temperature may be absent."""
    model.eval()
    for name in ignore_missing - set(state):
        if name.endswith("mask_token"):
            state[name] = torch.zeros_like(model.state_dict()[name])
    result = model.load_state_dict(state, strict=False)
    missing = set(result.missing_keys) - ignore_missing
    if missing or result.unexpected_keys:  # the tables and the model disagree: a bug here
        raise RuntimeError(f"internal mapping error: missing {sorted(missing)}, unexpected {result.unexpected_keys}")


# --------------------------------------------------------------------------- writers (inverse)
def export_vision(model: torch.nn.Module, path: str | Path) -> Path:
    """Write a Hugging Face vision tower (``Tipsv2VisionModel`` or DPT backbone) as ``*_vision.npz``."""
    state = model.state_dict()
    layers = _block_count(state, r"encoder\.layer\.(\d+)\.")
    swiglu = any(".mlp.gate_proj." in k for k in state)
    rules = _vision_rules(["blocks.0.mlp.w12."] if swiglu else [], layers)
    np.savez(path, **_map_to_theirs(state, rules))
    return Path(path)


def export_text(model: torch.nn.Module, path: str | Path, temperature: float = 0.01) -> Path:
    """Write a ``Tipsv2TextModel`` as the authors' ``*_text.npz`` (with a ``temperature`` entry)."""
    state = model.state_dict()
    arrays = _map_to_theirs(state, _text_rules(_block_count(state, r"encoder\.layers\.(\d+)\.")))
    np.savez(path, temperature=np.float32(temperature), **arrays)
    return Path(path)


def export_dpt(model: Tipsv2DptForDensePrediction, out_dir: str | Path,
               stem: str = "tips") -> list[Path]:
    """Write the three heads of ``model`` as Scenic DPT zips ``{stem}_{task}_dpt.zip``
    (``decoder/dpt/...``, ``decoder/pixel_*``, as the released zips)."""
    state = model.state_dict()
    paths = []
    for task, head in EXPORT_HEADS.items():
        layout = DptFile(Path(), task, True, "decoder/dpt/", f"decoder/{head}", 0, {})
        path = Path(out_dir) / f"{stem}_{task}_dpt.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for key, array in _map_to_theirs(state, _dpt_rules(layout)).items():
                buf = io.BytesIO()
                np.save(buf, array)
                zf.writestr(key + ".npy", buf.getvalue())
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tips-ros convert``."""
    parser.add_argument("--vision", required=True, help="the authors' *_vision.npz")
    parser.add_argument("--text", help="the authors' *_text.npz (writes OUT/text)")
    parser.add_argument("--tokenizer", help="the authors' SentencePiece tokenizer.model (with --text)")
    parser.add_argument("--dpt", nargs="+", default=[], metavar="FILE",
                        help="the depth, normals and segmentation DPT heads: Scenic zips or "
                        "the authors' PyTorch .npz (writes OUT/dpt)")
    parser.add_argument("--output", required=True, help="output directory; OUT/text and OUT/dpt")
    parser.add_argument("--variant", choices=list(SIZES),
                        help="model size (default: inferred from the checkpoint's width)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing OUT/text, OUT/dpt")


def run(args: argparse.Namespace) -> int:
    """``tips-ros convert``: convert and print the node arguments that use the result."""
    result = convert(args.vision, args.output, text=args.text, tokenizer=args.tokenizer,
                     dpt=args.dpt, variant=args.variant, overwrite=args.overwrite)
    s = result.shape
    version = "TIPSv1" if s.pos_grid == 16 else "TIPSv2"
    print(f"converted {version} width {s.hidden_size}, {s.vision_layers} vision blocks "
          f"({'SwiGLU' if s.use_swiglu_ffn else 'MLP'}), {s.pos_grid}x{s.pos_grid} position grid")
    if result.dpt_dir:
        print(f"  --model {result.dpt_dir}   (DPT blocks {', '.join(map(str, s.dpt_indices))}; "
              "no activation after the depth decoder's project conv, as in the authors' heads)")
    if result.text_dir:
        print(f"  --text-model {result.text_dir}")
    return 0
