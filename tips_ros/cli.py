# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros``: the command-line tool (make-test-model, synth-bag, replay, demo, bench, ...).

Each subcommand lives in the module that owns its concern and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this module only parses, dispatches and
turns the project's own errors into one sentence on stderr with a non-zero exit code.

Only the module of the command being run is imported (``tips-ros --help`` imports none, so it
lists the commands without loading torch or transformers).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

#: subcommand -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "make-test-model": (
        "tips_ros.engine.testmodel",
        "write random TIPSv2 models (HF format) for offline use",
    ),
    "synth-bag": (
        "tips_ros.offline.bags",
        "write a rosbag2 of synthetic frames with exact ground truth",
    ),
    "replay": (
        "tips_ros.offline.replay",
        "run the pipeline over a bag, write an output bag and a report",
    ),
    "demo": ("tips_ros.offline.demo", "synthetic bag -> replay -> report and preview picture"),
    "bench": ("tips_ros.tools.bench", "latency/throughput benchmark against the naive pipeline"),
    "convert": (
        "tips_ros.tools.convert",
        "convert the TIPS authors' .npz/.zip checkpoints to HF format",
    ),
    "evaluate": (
        "tips_ros.offline.evaluate",
        "replay many bags on Ray workers, one aggregate report",
    ),
    "export": (
        "tips_ros.engine.onnx_export",
        "export backbone + heads to ONNX (onnxruntime, TensorRT)",
    ),
}

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _available() -> dict[str, tuple[str, str]]:
    return {
        name: spec
        for name, spec in COMMANDS.items()
        if importlib.util.find_spec(spec[0]) is not None
    }


def requested_command(argv: Sequence[str]) -> str | None:
    """Return the subcommand named in ``argv`` (the first non-option argument), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the ``tips-ros`` parser; only ``command``'s module is imported for its arguments."""
    parser = argparse.ArgumentParser(
        prog="tips-ros", description="TIPSv2 dense perception: tools around the ROS 2 node."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in _available().items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(subparser)
        subparser.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tips-ros`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(requested_command(argv)).parse_args(argv)
    from tips_ros.errors import USER_ERRORS

    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except USER_ERRORS as err:
        print(f"tips-ros {args.command}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"tips-ros {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
