# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
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

Every config written here carries ``tips_ros_random_weights: true`` (:data:`RANDOM_WEIGHTS_KEY`),
so reports and previews can say the outputs come from random weights (:func:`weights_kind`).
"""

from __future__ import annotations

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

from tips_ros.engine.ade20k import ADE20K_CLASSES
from tips_ros.engine.loading import share_files
from tips_ros.errors import UsageError


@dataclass(frozen=True)
class ModelShape:
    """Architecture of one TIPS size (vision tower, text tower, DPT heads)."""

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
    #: side of the learned position-embedding grid: 32 for TIPSv2, 16 for TIPSv1
    pos_grid: int = 32
    extra_vision: dict = field(default_factory=dict)

    def vision_config(self, patch_size: int = 14) -> dict:
        """Keyword arguments of ``Tipsv2VisionConfig`` for this shape.

        ``image_size`` is the position grid times the patch size, so the position embeddings have
        exactly the checkpoint's grid; other input sizes are interpolated from it.
        """
        return dict(
            hidden_size=self.hidden_size,
            num_hidden_layers=self.vision_layers,
            num_attention_heads=self.vision_heads,
            mlp_ratio=self.mlp_ratio,
            use_swiglu_ffn=self.use_swiglu_ffn,
            image_size=self.pos_grid * patch_size,
            patch_size=patch_size,
            **self.extra_vision,
        )

    def text_config(self) -> dict:
        """Keyword arguments of ``Tipsv2TextConfig`` for this shape."""
        return {
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.text_layers,
            "num_attention_heads": self.text_heads,
            "intermediate_size": self.text_intermediate,
            "vocab_size": self.vocab_size,
        }

    def dpt_config(self, patch_size: int = 14) -> Tipsv2DptConfig:
        """``Tipsv2DptConfig`` with this shape's backbone and DPT heads (150 ADE20K classes)."""
        return Tipsv2DptConfig(
            backbone_config=dict(
                model_type="tipsv2_vision_model",
                out_indices=list(self.dpt_indices),
                apply_layernorm=True,
                reshape_hidden_states=False,
                **self.vision_config(patch_size),
            ),
            neck_hidden_sizes=list(self.neck_hidden_sizes),
            fusion_hidden_size=self.fusion_hidden_size,
            num_depth_bins=self.num_depth_bins,
            num_labels=len(ADE20K_CLASSES),
            id2label=dict(enumerate(ADE20K_CLASSES)),
            label2id={name: idx for idx, name in enumerate(ADE20K_CLASSES)},
        )


def dpt_indices(num_layers: int) -> tuple[int, ...]:
    """Return the 4 evenly spaced blocks (from 1) the DPT heads read, as the authors' configs.

    B/14 (12 blocks): 3, 6, 9, 12; L/14 (24): 6, 12, 18, 24; SO/14 (27): 7, 14, 21, 27;
    g/14 (40): 10, 20, 30, 40.
    """
    return tuple(-(-num_layers * k // 4) for k in range(1, 5))


def _official(width: int, layers: int, heads: int, mlp: int, text_layers: int, *,
              swiglu: bool = False, pos_grid: int = 32) -> ModelShape:
    """Describe one released TIPS model: ViT width/depth/heads, FFN width, text depth.

    The text tower has the vision tower's width and heads and an FFN of ``mlp`` (ReLU); DPT necks
    are width/8, /4, /2, /1 with 256 fusion channels, as in the authors' DPT code.
    """
    return ModelShape(
        hidden_size=width, vision_layers=layers, vision_heads=heads,
        mlp_ratio=(4 if swiglu else mlp / width), text_layers=text_layers, text_heads=heads,
        text_intermediate=mlp, dpt_indices=dpt_indices(layers),
        neck_hidden_sizes=(width // 8, width // 4, width // 2, width),
        use_swiglu_ffn=swiglu, pos_grid=pos_grid,
    )


_V2 = {
    # name: (width, blocks, heads, FFN width, text blocks, SwiGLU)
    "b14": (768, 12, 12, 3072, 12, False),
    "l14": (1024, 24, 16, 4096, 12, False),
    "so14": (1152, 27, 16, 4304, 27, False),
    "g14": (1536, 40, 24, 6144, 12, True),
}
_V1_ONLY = {"s14": (384, 12, 6, 1536, 12, False)}

SIZES: dict[str, ModelShape] = {
    # Small enough for CPU tests (a 448x448 frame runs in well under a second).
    "tiny": ModelShape(
        hidden_size=32, vision_layers=4, vision_heads=2, mlp_ratio=2, text_layers=2,
        text_heads=2, text_intermediate=64, dpt_indices=(1, 2, 3, 4),
        neck_hidden_sizes=(8, 16, 32, 32), fusion_hidden_size=16, num_depth_bins=32,
        vocab_size=1024,
    ),
    # The real TIPSv2 shapes (B/14: 85.7M vision parameters), for benchmarks.
    **{name: _official(w, n, h, m, t, swiglu=g) for name, (w, n, h, m, t, g) in _V2.items()},
    # TIPSv1: the same architectures with a 16x16 position grid, plus S/14.
    **{
        f"v1-{name}": _official(w, n, h, m, t, swiglu=g, pos_grid=16)
        for name, (w, n, h, m, t, g) in {**_V1_ONLY, **_V2}.items()
    },
}

#: ``config.json`` key set on every model written by :func:`write_test_models`.
RANDOM_WEIGHTS_KEY = "tips_ros_random_weights"


def weights_kind(*configs: object) -> str:
    """Return ``"random"`` for random test weights, else ``"released"``.

    ``"random"`` if any of the transformers ``configs`` belongs to a model written by
    :func:`write_test_models`; ``"released"`` for hub or converted checkpoints.
    """
    return "random" if any(getattr(c, RANDOM_WEIGHTS_KEY, False) for c in configs) else "released"


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


@dataclass(frozen=True)
class MakeTestModelOptions:
    """Random models (``tips-ros make-test-model``): ``out/dpt`` and ``out/text``.

    ``size`` is a key of :data:`SIZES` (``tiny`` for CPU tests; ``b14``, ``l14``, ``so14``,
    ``g14`` the TIPSv2 shapes; ``v1-s14`` ... ``v1-g14`` the TIPSv1 shapes); ``seed`` seeds the
    weights. Checked when built (``UsageError``, one sentence).
    """

    out: Path
    size: str = "tiny"
    seed: int = 0

    def __post_init__(self) -> None:
        """Turn ``out`` into a ``Path`` and check ``size`` (``UsageError``)."""
        object.__setattr__(self, "out", Path(self.out))
        if self.size not in SIZES:
            raise UsageError(f"unknown size '{self.size}'; choose one of {', '.join(SIZES)}")


def write_test_models(out_dir: str | Path, size: str = MakeTestModelOptions.size,
                      seed: int = MakeTestModelOptions.seed) -> tuple[Path, Path]:
    """Write random ``out_dir/dpt`` and ``out_dir/text`` models of the given size.

    Returns the two directories. Weights are saved as safetensors. The values are checked as
    :class:`MakeTestModelOptions` (``UsageError``).
    """
    shape = SIZES[MakeTestModelOptions(Path(out_dir), size, seed).size]
    transformers.logging.disable_progress_bar()
    torch.manual_seed(seed)
    out = Path(out_dir)
    image_text = Tipsv2Model(
        Tipsv2Config(vision_config=shape.vision_config(), text_config=shape.text_config())
    ).eval()
    dpt_config = shape.dpt_config()
    dpt = Tipsv2DptForDensePrediction(dpt_config).eval()
    dpt.backbone.load_state_dict(image_text.vision_model.state_dict())

    # Tipsv2TextModel.from_pretrained(text_dir) reads only the text sub-config: mark it too.
    for config in (dpt.config, image_text.config, image_text.config.text_config):
        setattr(config, RANDOM_WEIGHTS_KEY, True)
    dpt_dir, text_dir = out / "dpt", out / "text"
    dpt.save_pretrained(dpt_dir)
    image_text.save_pretrained(text_dir)
    build_tokenizer(shape.vocab_size).save_pretrained(text_dir)
    for folder in (dpt_dir, text_dir):
        share_files(folder)  # readable by others as the umask allows (weights were 0600)
    return dpt_dir, text_dir
