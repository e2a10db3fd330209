# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros demo``: flags -> ``DemoOptions`` -> ``demo``, then where everything is."""

from __future__ import annotations

import argparse
from pathlib import Path

from tips_ros.cli.flags import add_model_options, options_from
from tips_ros.offline.arguments import parse_size
from tips_ros.offline.demo import demo, DemoOptions
from tips_ros.offline.report import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros demo`` (the fields of ``DemoOptions``)."""
    default = DemoOptions
    add_model_options(parser)
    parser.add_argument("--out", type=Path, default=default.out,
                        help="output directory, new or empty (default: a new temp dir)")
    parser.add_argument("--frames", type=int, default=default.frames,
                        help=f"synthetic frames (default {default.frames})")
    parser.add_argument("--size", type=parse_size, default=default.size, help="WIDTHxHEIGHT")


def options(args: argparse.Namespace) -> DemoOptions:
    """Return the demo the parsed flags ``args`` describe (checked: ``UsageError``)."""
    return options_from(DemoOptions, args)


def run(args: argparse.Namespace) -> int:
    """Run ``tips-ros demo``: render, replay, print the table and where the files are."""
    report, replayed = demo(options(args))
    print(format_table(report))
    print(f"synthetic bag (input + ground truth): {replayed.bag}")
    print(f"output bag (/tips/... topics):        {replayed.output}")
    print(f"report:                               {replayed.report}")
    print(f"preview picture:                      {replayed.preview}")
    if report["weights"] == "random":
        from tips_ros.offline.preview import RANDOM_WEIGHTS_NOTE

        print(RANDOM_WEIGHTS_NOTE)
    return 0
