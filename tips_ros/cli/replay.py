# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros replay``: flags -> ``ReplayOptions`` -> ``replay``, then the printed table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tips_ros.cli.flags import add_run_options, options_from, run_options
from tips_ros.errors import BagWriteError
from tips_ros.offline.options import ReplayOptions
from tips_ros.offline.replay import check_inputs, replay
from tips_ros.offline.report import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros replay`` (the fields of ``ReplayOptions``)."""
    parser.add_argument("bag", type=Path, help="input rosbag2 directory (sqlite3 or mcap)")
    parser.add_argument("--output", type=Path, required=True,
                        help="output bag directory (must not exist)")
    add_run_options(parser)
    parser.add_argument("--pace", action="store_true",
                        help="release frames at the recorded rate instead of full speed")
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument("--preview", type=Path, help="write a PNG grid of a few frames here")


def options(args: argparse.Namespace) -> ReplayOptions:
    """Return the replay the parsed flags ``args`` describe."""
    return options_from(ReplayOptions, args, run=run_options(args))


def run(args: argparse.Namespace) -> int:
    """Run ``tips-ros replay``: check the inputs, load the model, replay, print the table."""
    chosen = options(args)
    check_inputs(chosen)
    try:
        report = replay(chosen)
    except BagWriteError as err:  # exit 1: an interrupted write, the bag holds what was kept
        kept = f"; report: {chosen.report}" if chosen.report else ""
        print(f"tips-ros replay: error: {err}; the output bag keeps the {err.frames_kept} "
              f"frame(s) written before{kept}", file=sys.stderr)
        return 1
    print(format_table(report))
    print(f"output bag: {chosen.output}")
    for name, path in (("report", chosen.report), ("preview", chosen.preview)):
        if path:
            print(f"{name}: {path}")
    return 1 if report["frames_out"] == 0 and report["frames_in"] else 0
