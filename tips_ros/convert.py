"""``tips-ros convert``: the TIPS authors' checkpoint files -> Hugging Face-format directories.

The authors publish, for TIPSv1 and TIPSv2, a PyTorch vision encoder ``*_vision.npz`` (the
state dict of their DINOv2-style ``VisionTransformer``), a text encoder ``*_text.npz``, one
SentencePiece ``tokenizer.model``, and Scenic/Flax DPT heads as zips of ``.npy`` leaves (one zip
per task: depth, normals, segmentation). ``convert`` writes

* ``OUT/text``: ``Tipsv2Model`` (vision + text towers) and ``Tipsv2Tokenizer``, like
  ``google/tipsv2-b14``;
* ``OUT/dpt``: ``Tipsv2DptForDensePrediction`` (the vision npz + the three DPT zips), like
  ``google/tipsv2-b14-dpt``;

both loadable with ``from_pretrained`` (safetensors), so the node takes them like a hub
download. The architecture comes from the tensor shapes (width, depth, FFN type, position grid
16x16 for v1 or 32x32 for v2); only the number of attention heads, which no shape shows, comes
from the size table in :mod:`tips_ros.testmodel` (matched by width, or ``--variant``).

Every name mapping is in one table per file type (:data:`VISION_KEYS`, :data:`TEXT_KEYS`,
:data:`DPT_KEYS`), used in both directions: :func:`convert` reads the authors' layout and the
``export_*`` functions write it from a Hugging Face model (for round-trip tests). Unknown or
missing keys and wrong shapes are all collected and reported in one error before anything is
written.

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
import struct
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
from transformers.tokenization_utils_base import generate_merges

from tips_ros.errors import UsageError
from tips_ros.loading import ModelLoadError
from tips_ros.testmodel import SIZES, ModelShape, dpt_indices

#: text ids are padded/truncated to this many tokens, as in the authors' tokenizer
MAX_TOKENS = 64
#: identity activation name in ``transformers.activations.ACT2FN``
IDENTITY_ACTIVATION = "linear"


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

#: DPT task -> name of its output Dense layer in the Flax tree
DPT_HEADS = {"depth": "pixel_depth_classif", "normals": "pixel_normals",
             "segmentation": "pixel_segmentation"}


def _dpt_rules() -> list[Rule]:
    """The Flax DPT tree of one task (``{task}`` and ``{head}`` are filled in per zip)."""
    dpt, neck = "{task}/decoder/dpt", "{task}_neck"
    rules: list[Rule] = []
    for i in range(4):
        rb = f"{dpt}/reassemble_blocks"
        rules += _pair(f"{rb}/out_projection_{i}", f"{neck}.reassemble_stage.layers.{i}.projection", "conv")
        rules += _pair(f"{rb}/readout_projects_{i}",
                       f"{neck}.reassemble_stage.readout_projects.{i}.layers.0", "dense")
        rules.append(_rule(f"{dpt}/convs_{i}/kernel", f"{neck}.convs.{i}.weight", layout="conv"))
        block, fusion = f"{dpt}/fusion_blocks_{i}", f"{neck}.fusion_stage.layers.{i}"
        # Flax names the units in creation order: the residual unit (blocks 1-3) comes first.
        units = ["residual_layer2"] if i == 0 else ["residual_layer1", "residual_layer2"]
        for n, unit in enumerate(units):
            for c in (1, 2):
                rules.append(_rule(f"{block}/PreActResidualConvUnit_{n}/conv{c}/kernel",
                                   f"{fusion}.{unit}.convolution{c}.weight", layout="conv"))
        rules += _pair(f"{block}/Conv_0", f"{fusion}.projection", "conv")
    rb = f"{dpt}/reassemble_blocks"
    rules += _pair(f"{rb}/resize_layers_0", f"{neck}.reassemble_stage.layers.0.resize", "convT")
    rules += _pair(f"{rb}/resize_layers_1", f"{neck}.reassemble_stage.layers.1.resize", "convT")
    rules += _pair(f"{rb}/resize_layers_3", f"{neck}.reassemble_stage.layers.3.resize", "conv")
    rules += _pair(f"{dpt}/project", "{task}_decoder.project", "conv")
    rules += _pair("{task}/decoder/{head}", "{task}_decoder.head", "dense")
    return rules


DPT_KEYS: list[Rule] = _dpt_rules()


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
    """Fill ``{i}``, ``{task}``, ``{head}`` placeholders of the rules."""
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


def _dpt_rules_for(heads: Mapping[str, str]) -> list[Rule]:
    return [r for task, head in heads.items() for r in _expand(DPT_KEYS, task=task, head=head)]


# --------------------------------------------------------------------------- shapes
def infer_shape(vision: Mapping[str, np.ndarray], text: Mapping[str, np.ndarray] | None = None,
                variant: str | None = None) -> ModelShape:
    """The architecture of the authors' checkpoint, from its tensor shapes.

    Width, depth, FFN type/width, position grid, text depth/FFN/vocabulary come from shapes;
    the attention heads (not visible in any shape) from ``SIZES[variant]`` or, without a
    variant, from the size in :data:`tips_ros.testmodel.SIZES` with the same width.
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


def read_dpt_zip(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """``(task, arrays)`` of one Flax DPT zip; keys are ``{task}/decoder/...`` without ``.npy``.

    The task (depth, normals, segmentation) is recognised by the output layer's name.
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
        raise ConversionError(f"'{path}' is not a readable DPT zip ({err})") from err
    tasks = [t for t, head in DPT_HEADS.items() if f"decoder/{head}/kernel" in arrays]
    if len(tasks) != 1:
        raise ConversionError(
            f"'{path}' has {'no' if not tasks else 'more than one'} DPT output layer "
            f"(expected one of decoder/{{{', '.join(DPT_HEADS.values())}}}/kernel.npy)"
        )
    return tasks[0], {f"{tasks[0]}/{k}": v for k, v in arrays.items()}


# --------------------------------------------------------------------------- tokenizer
def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes | float]]:
    """``(field number, value)`` pairs of one protobuf message (wire types 0, 1, 2, 5)."""
    fields, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = struct.unpack("<f", buf[pos:pos + 4])[0], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, value))
    return fields


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def convert_tokenizer(path: str | Path) -> Tipsv2Tokenizer:
    """A ``Tipsv2Tokenizer`` equal to the SentencePiece BPE model ``path`` on lower-cased text.

    Reads the model's pieces, scores and normaliser (the precompiled NFKC map) from the
    SentencePiece protobuf; BPE merges follow the piece scores, as SentencePiece applies them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file '{path}' does not exist")
    try:
        top = _proto_fields(path.read_bytes())
        pieces = []  # (piece, score, type): type 1 normal, 2 unknown, 3 control, 6 byte
        for number, value in top:
            if number == 1:
                sub = dict(_proto_fields(value))
                pieces.append((sub[1].decode("utf-8"), float(sub.get(2, 0.0)), int(sub.get(3, 1))))
        trainer = dict(_proto_fields(next(v for n, v in top if n == 2)))
        normalizer = dict(_proto_fields(next((v for n, v in top if n == 3), b"")))
    except (ValueError, IndexError, KeyError, StopIteration, UnicodeDecodeError) as err:
        raise ConversionError(f"'{path}' is not a SentencePiece model ({err})") from err
    if int(trainer.get(3, 1)) != 2:
        raise ConversionError(f"'{path}' is not a BPE SentencePiece model; Tipsv2Tokenizer is BPE only")
    if not int(normalizer.get(3, 1)) or not int(normalizer.get(4, 1)):
        raise ConversionError(
            f"'{path}' disables the dummy prefix or whitespace folding, which Tipsv2Tokenizer always applies"
        )
    vocab = {piece: i for i, (piece, _, _) in enumerate(pieces)}
    if vocab.get("<pad>") != 0:
        raise ConversionError(f"'{path}' does not have <pad> as id 0, as TIPS requires")
    special = [p for p, _, kind in pieces if kind in (2, 3, 6)]
    scores = {p: s for p, s, kind in pieces if kind == 1}
    merges = generate_merges(vocab, scores, skip_tokens=special)
    unk = next((p for p, _, kind in pieces if kind == 2), "<unk>")
    return Tipsv2Tokenizer(
        vocab=vocab, merges=merges, unk_token=unk, pad_token="<pad>",
        model_max_length=MAX_TOKENS, _spm_precompiled_charsmap=normalizer.get(2) or None,
    )


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
        heads: dict[str, str] = {}
        arrays: dict[str, np.ndarray] = {}
        for path in dpt:
            task, task_arrays = read_dpt_zip(path)
            if task in heads:
                raise UsageError(f"two --dpt files hold the {task} head; give one zip per task")
            heads[task] = DPT_HEADS[task]
            arrays.update(task_arrays)
        if set(heads) != set(DPT_HEADS):
            absent = sorted(set(DPT_HEADS) - set(heads))
            raise UsageError(f"the DPT model needs the depth, normals and segmentation zips; missing: {', '.join(absent)}")
        config = shape.dpt_config()
        config.depth_decoder_activation = IDENTITY_ACTIVATION
        config.num_depth_bins = int(arrays["depth/decoder/pixel_depth_classif/bias"].shape[0])
        config.num_labels = int(arrays["segmentation/decoder/pixel_segmentation/bias"].shape[0])
        if config.num_labels != len(config.id2label):
            config.id2label = {i: f"class_{i}" for i in range(config.num_labels)}
            config.label2id = {v: k for k, v in config.id2label.items()}
        with torch.device("meta"):
            probe_dpt = Tipsv2DptForDensePrediction(config)
        shapes = _expected(probe_dpt)
        state = _map_to_ours(vision_arrays, vision_rules, shapes, f"vision checkpoint '{vision}'",
                             "backbone.")
        state.update(_map_to_ours(arrays, _dpt_rules_for(heads), shapes,
                                  "DPT checkpoints " + ", ".join(f"'{p}'" for p in dpt)))
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


def export_dpt(model: Tipsv2DptForDensePrediction, out_dir: str | Path, stem: str = "tips") -> list[Path]:
    """Write the three heads of ``model`` as Flax DPT zips ``{stem}_{task}_dpt.zip``."""
    state = model.state_dict()
    paths = []
    for task, head in DPT_HEADS.items():
        arrays = _map_to_theirs(state, _dpt_rules_for({task: head}))
        path = Path(out_dir) / f"{stem}_{task}_dpt.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for key, array in arrays.items():
                buf = io.BytesIO()
                np.save(buf, array)
                zf.writestr(key[len(task) + 1:] + ".npy", buf.getvalue())
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tips-ros convert``."""
    parser.add_argument("--vision", required=True, help="the authors' *_vision.npz")
    parser.add_argument("--text", help="the authors' *_text.npz (writes OUT/text)")
    parser.add_argument("--tokenizer", help="the authors' SentencePiece tokenizer.model (with --text)")
    parser.add_argument("--dpt", nargs="+", default=[], metavar="ZIP",
                        help="the depth, normals and segmentation Flax DPT zips (writes OUT/dpt)")
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
