# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros make-test-model``: flags -> ``MakeTestModelOptions`` -> ``write_test_models``."""

from __future__ import annotations

import argparse
from pathlib import Path

from tips_ros.cli.flags import add_seed, options_from
from tips_ros.engine.testmodel import MakeTestModelOptions, SIZES, write_test_models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros make-test-model`` (``MakeTestModelOptions``' fields)."""
    default = MakeTestModelOptions
    parser.add_argument("out", type=Path, metavar="dir",
                        help="output directory; DIR/dpt and DIR/text are created")
    parser.add_argument("--size", choices=list(SIZES), default=default.size,
                        help="tiny: CPU tests; b14, l14, so14, g14: real TIPSv2 shapes; "
                        "v1-s14 ... v1-g14: TIPSv1 shapes (16x16 position grid)")
    add_seed(parser, default.seed, "random seed of the weights")


def options(args: argparse.Namespace) -> MakeTestModelOptions:
    """Return the models the parsed flags ``args`` describe."""
    return options_from(MakeTestModelOptions, args)


def run(args: argparse.Namespace) -> int:
    """Run ``tips-ros make-test-model DIR [--size S]``: write the models, say where they are."""
    chosen = options(args)
    dpt_dir, text_dir = write_test_models(chosen.out, chosen.size, chosen.seed)
    print(f"wrote {chosen.size} test models (random weights):\n  --model {dpt_dir}\n"
          f"  --text-model {text_dir}")
    return 0
