# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros convert``: flags -> ``ConvertOptions`` -> ``convert``, and how to use the result."""

from __future__ import annotations

import argparse
from pathlib import Path

from tips_ros.cli.flags import options_from
from tips_ros.engine.testmodel import SIZES
from tips_ros.tools.convert.converter import convert, ConvertOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros convert`` (the fields of ``ConvertOptions``)."""
    default = ConvertOptions
    add = parser.add_argument
    add("--vision", type=Path, required=True, help="the authors' *_vision.npz")
    add("--text", type=Path, default=default.text,
        help="the authors' *_text.npz (writes OUT/text)")
    add("--tokenizer", type=Path, default=default.tokenizer,
        help="the authors' SentencePiece tokenizer.model (with --text)")
    add("--dpt", type=Path, nargs="+", default=default.dpt, metavar="FILE",
        help="the depth, normals and segmentation DPT heads: Scenic zips or "
        "the authors' PyTorch .npz (writes OUT/dpt)")
    add("--output", type=Path, required=True, help="output directory; OUT/text and OUT/dpt")
    add("--variant", choices=list(SIZES), default=default.variant,
        help="model size (default: inferred from the checkpoint's width)")
    add("--overwrite", action="store_true", help="replace existing OUT/text, OUT/dpt")


def options(args: argparse.Namespace) -> ConvertOptions:
    """Return the conversion the parsed flags ``args`` describe (checked: ``UsageError``)."""
    return options_from(ConvertOptions, args)


def run(args: argparse.Namespace) -> int:
    """Run ``tips-ros convert``: convert and print the node arguments that use the result."""
    chosen = options(args)
    result = convert(chosen.vision, chosen.output, text=chosen.text, tokenizer=chosen.tokenizer,
                     dpt=chosen.dpt, variant=chosen.variant, overwrite=chosen.overwrite)
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
