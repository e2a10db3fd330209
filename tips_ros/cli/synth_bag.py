# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros synth-bag``: flags -> ``SynthBagOptions`` -> ``write_synth_bag``."""

from __future__ import annotations

import argparse
from pathlib import Path

from tips_ros.cli.flags import add_seed, options_from
from tips_ros.offline.arguments import parse_size
from tips_ros.offline.bags import STORAGES, SYNTH_TOPICS, SynthBagOptions, write_synth_bag


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros synth-bag`` (the fields of ``SynthBagOptions``)."""
    default = SynthBagOptions
    width, height = default.size
    parser.add_argument("out", type=Path, help="output bag directory (must not exist)")
    parser.add_argument("--frames", type=int, default=default.frames,
                        help=f"number of frames (default {default.frames})")
    parser.add_argument("--size", type=parse_size, default=default.size,
                        help=f"WIDTHxHEIGHT (default {width}x{height})")
    parser.add_argument("--storage", choices=sorted(STORAGES), default=default.storage,
                        help="bag storage")
    add_seed(parser, default.seed, "scene seed (same seed, same bag)")


def options(args: argparse.Namespace) -> SynthBagOptions:
    """Return the bag the parsed flags ``args`` describe (checked: ``UsageError``)."""
    return options_from(SynthBagOptions, args)


def run(args: argparse.Namespace) -> int:
    """Run ``tips-ros synth-bag OUT``: write the bag and list its topics."""
    chosen = options(args)
    path = write_synth_bag(chosen.out, chosen.frames, chosen.size, chosen.storage, chosen.seed)
    print(f"wrote {chosen.frames} synthetic frames to {path} ({chosen.storage}); topics:")
    for topic in SYNTH_TOPICS.values():
        print(f"  {topic}")
    return 0
