"""Randomly initialised TIPSv2 models in Hugging Face format, for offline tests and benchmarks.

``write_test_models(out_dir, size)`` writes two directories that load through exactly the
same code path as the hub checkpoints:

* ``out_dir/dpt``: ``Tipsv2DptForDensePrediction`` (backbone + depth, normals and
  segmentation heads), like ``google/tipsv2-b14-dpt``;
* ``out_dir/text``: ``Tipsv2Model`` (vision + text towers) with a ``Tipsv2Tokenizer``, like
  ``google/tipsv2-b14``.

The DPT backbone gets the same weights as the image-text model's vision tower, as in the
released checkpoints, so heatmaps computed from the DPT pass match ``Tipsv2Model``.
The tokenizer is a byte-fallback BPE trained here on a small English corpus (class names and
prompt templates); its ids are not those of the released SentencePiece vocabulary.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    Tipsv2Config,
    Tipsv2DptConfig,
    Tipsv2DptForDensePrediction,
    Tipsv2Model,
    Tipsv2Tokenizer,
)

from tips_ros.ade20k import ADE20K_CLASSES


@dataclass(frozen=True)
class ModelShape:
    """Architecture of one TIPSv2 size (vision tower, text tower, DPT heads)."""

    hidden_size: int
    vision_layers: int
    vision_heads: int
    mlp_ratio: float
    text_layers: int
    text_heads: int
    text_intermediate: int
    dpt_indices: tuple[int, ...]
    neck_hidden_sizes: tuple[int, ...]
    fusion_hidden_size: int = 256
    num_depth_bins: int = 256
    use_swiglu_ffn: bool = False
    vocab_size: int = 32000
    extra_vision: dict = field(default_factory=dict)


SIZES: dict[str, ModelShape] = {
    # Small enough for CPU tests (a 448x448 frame runs in well under a second).
    "tiny": ModelShape(
        hidden_size=32, vision_layers=4, vision_heads=2, mlp_ratio=2, text_layers=2,
        text_heads=2, text_intermediate=64, dpt_indices=(1, 2, 3, 4),
        neck_hidden_sizes=(8, 16, 32, 32), fusion_hidden_size=16, num_depth_bins=32,
        vocab_size=1024,
    ),
    # The real B/14 shapes (85.7M vision parameters), for benchmarks.
    "b14": ModelShape(
        hidden_size=768, vision_layers=12, vision_heads=12, mlp_ratio=4, text_layers=12,
        text_heads=12, text_intermediate=3072, dpt_indices=(3, 6, 9, 12),
        neck_hidden_sizes=(96, 192, 384, 768),
    ),
}

_CORPUS_TEMPLATES = (
    "a photo of a {}.", "a photo of the {}.", "there is a {} in the scene.", "a {} in a room.",
    "an image of {}.", "the {} is here.",
)


def build_tokenizer(vocab_size: int) -> Tipsv2Tokenizer:
    """Train a lower-cased, byte-fallback BPE tokenizer on class names and prompt templates.

    Token 0 is ``<pad>`` and 1 is ``<unk>``, as in the released TIPS vocabulary; the 256 byte
    tokens ``<0x00>``..``<0xFF>`` make every string encodable (non-ASCII included).
    """
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    bpe = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    bpe.normalizer = normalizers.Lowercase()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁")]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=min(vocab_size, 2000),
        special_tokens=["<pad>", "<unk>", *byte_tokens],
        show_progress=False,
    )
    corpus = [t.format(name) for name in ADE20K_CLASSES for t in _CORPUS_TEMPLATES]
    bpe.train_from_iterator(corpus, trainer=trainer)
    merges = [tuple(pair) for pair in json.loads(bpe.to_str())["model"]["merges"]]
    return Tipsv2Tokenizer(vocab=bpe.get_vocab(), merges=merges)


def write_test_models(out_dir: str | Path, size: str = "tiny", seed: int = 0) -> tuple[Path, Path]:
    """Write random ``out_dir/dpt`` and ``out_dir/text`` models of the given size.

    Returns the two directories. Weights are saved as safetensors.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size '{size}'; choose one of {', '.join(SIZES)}")
    shape = SIZES[size]
    transformers.logging.disable_progress_bar()
    torch.manual_seed(seed)
    out = Path(out_dir)
    vision = dict(
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.vision_layers,
        num_attention_heads=shape.vision_heads,
        mlp_ratio=shape.mlp_ratio,
        use_swiglu_ffn=shape.use_swiglu_ffn,
        **shape.extra_vision,
    )
    text = dict(
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.text_layers,
        num_attention_heads=shape.text_heads,
        intermediate_size=shape.text_intermediate,
        vocab_size=shape.vocab_size,
    )
    image_text = Tipsv2Model(Tipsv2Config(vision_config=vision, text_config=text)).eval()
    dpt_config = Tipsv2DptConfig(
        backbone_config=dict(
            model_type="tipsv2_vision_model",
            out_indices=list(shape.dpt_indices),
            apply_layernorm=True,
            reshape_hidden_states=False,
            **vision,
        ),
        neck_hidden_sizes=list(shape.neck_hidden_sizes),
        fusion_hidden_size=shape.fusion_hidden_size,
        num_depth_bins=shape.num_depth_bins,
        num_labels=len(ADE20K_CLASSES),
        id2label=dict(enumerate(ADE20K_CLASSES)),
        label2id={name: idx for idx, name in enumerate(ADE20K_CLASSES)},
    )
    dpt = Tipsv2DptForDensePrediction(dpt_config).eval()
    dpt.backbone.load_state_dict(image_text.vision_model.state_dict())

    dpt_dir, text_dir = out / "dpt", out / "text"
    dpt.save_pretrained(dpt_dir)
    image_text.save_pretrained(text_dir)
    build_tokenizer(shape.vocab_size).save_pretrained(text_dir)
    return dpt_dir, text_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tips-ros make-test-model``."""
    parser.add_argument("dir", help="output directory; DIR/dpt and DIR/text are created")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny",
                        help="tiny: CPU tests; b14: real B/14 shapes for benchmarks")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the weights")


def run(args: argparse.Namespace) -> int:
    """``tips-ros make-test-model DIR [--size S]``: write the models and say where they are."""
    dpt_dir, text_dir = write_test_models(args.dir, args.size, args.seed)
    print(f"wrote {args.size} test models (random weights):\n  --model {dpt_dir}\n  --text-model {text_dir}")
    return 0
