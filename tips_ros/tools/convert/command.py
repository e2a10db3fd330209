# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros convert``: the flags, :func:`~.converter.convert`, and how to use the result."""

from __future__ import annotations

import argparse

from tips_ros.engine.testmodel import SIZES
from tips_ros.tools.convert.converter import convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros convert`` to ``parser``."""
    add = parser.add_argument
    add("--vision", required=True, help="the authors' *_vision.npz")
    add("--text", help="the authors' *_text.npz (writes OUT/text)")
    add("--tokenizer", help="the authors' SentencePiece tokenizer.model (with --text)")
    add("--dpt", nargs="+", default=[], metavar="FILE",
        help="the depth, normals and segmentation DPT heads: Scenic zips or "
        "the authors' PyTorch .npz (writes OUT/dpt)")
    add("--output", required=True, help="output directory; OUT/text and OUT/dpt")
    add("--variant", choices=list(SIZES),
        help="model size (default: inferred from the checkpoint's width)")
    add("--overwrite", action="store_true", help="replace existing OUT/text, OUT/dpt")


def run(args: argparse.Namespace) -> int:
    """Run ``tips-ros convert``: convert and print the node arguments that use the result."""
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
