# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros``: the command-line layer (make-test-model, synth-bag, replay, demo, bench, ...).

Every subcommand has the same shape. Its library side is a frozen options class (the defaults
and the checks: a bad value is a ``UsageError`` of one sentence) and a function a Python user
calls with it, e.g. ``replay(ReplayOptions(...))``. Its command side is one module here,
``tips_ros.cli.<command>``, with ``add_arguments(parser)`` (the flags; each flag's
destination is an option field's name and its default that field's default), ``options(args)``
(flags -> options) and ``run(args) -> int`` (call, print, exit code). argparse lives only in
this package. Adding a flag: a field (with its default and check) in the options class and
one ``add_argument`` in the command's module; flags shared by several commands are in
:mod:`tips_ros.cli.flags`.

This module only parses, dispatches and turns the project's own errors into one sentence on
stderr with exit code 2. Only the module of the command being run is imported (``tips-ros
--help`` imports none, so it lists the commands without loading torch or transformers).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: subcommand -> one-line help; the command's module is ``tips_ros.cli.<name with _>``,
#: imported only when that command runs.
COMMANDS: dict[str, str] = {
    "make-test-model": "write random TIPSv2 models (HF format) for offline use",
    "synth-bag": "write a rosbag2 of synthetic frames with exact ground truth",
    "replay": "run the pipeline over a bag, write an output bag and a report",
    "demo": "synthetic bag -> replay -> report and preview picture",
    "bench": "latency/throughput benchmark against the naive pipeline",
    "convert": "convert the TIPS authors' .npz/.zip checkpoints to HF format",
    "evaluate": "replay many bags on Ray workers, one aggregate report",
    "export": "export backbone + heads to ONNX (onnxruntime, TensorRT)",
}

#: exit codes: a user error (bad argument, unreadable input, unwritable output: any OSError
#: before writing began), a write that failed part-way (a full disk; what was written is
#: kept and readable), Ctrl-C
EXIT_ERROR = 2
EXIT_WRITE_INTERRUPTED = 1
EXIT_INTERRUPTED = 130


def command_module(name: str) -> str:
    """Return the module of subcommand ``name`` (``synth-bag`` -> ``tips_ros.cli.synth_bag``)."""
    return f"{__name__}.{name.replace('-', '_')}"


def requested_command(argv: Sequence[str]) -> str | None:
    """Return the subcommand named in ``argv`` (the first non-option argument), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the ``tips-ros`` parser; only ``command``'s module is imported for its arguments."""
    parser = argparse.ArgumentParser(
        prog="tips-ros", description="TIPSv2 dense perception: tools around the ROS 2 node."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(command_module(name)).add_arguments(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tips-ros`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(requested_command(argv)).parse_args(argv)
    from tips_ros.errors import USER_ERRORS, BagWriteError, one_sentence

    try:
        return int(importlib.import_module(command_module(args.command)).run(args) or 0)
    except BagWriteError as err:  # an interrupted write: the bag keeps what was written
        print(f"tips-ros {args.command}: error: {one_sentence(err)} (the bag keeps "
              f"{err.frames_kept} frame(s))", file=sys.stderr)
        return EXIT_WRITE_INTERRUPTED
    except USER_ERRORS as err:
        print(f"tips-ros {args.command}: error: {one_sentence(err)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"tips-ros {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
