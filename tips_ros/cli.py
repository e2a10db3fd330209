"""``tips-ros``: the command-line tool (make-test-model, synth-bag, replay, demo, bench, ...).

Each subcommand lives in the module that owns its concern and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this module only parses, dispatches and
turns the project's own errors into one sentence on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: subcommand -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "make-test-model": ("tips_ros.testmodel", "write random TIPSv2 models (HF format) for offline use"),
    "synth-bag": ("tips_ros.bags", "write a rosbag2 of synthetic frames with exact ground truth"),
    "replay": ("tips_ros.replay", "run the pipeline over a bag, write an output bag and a report"),
    "demo": ("tips_ros.demo", "synthetic bag -> replay -> report and preview picture"),
    "bench": ("tips_ros.bench", "latency/throughput benchmark against the naive pipeline"),
    "convert": ("tips_ros.convert", "convert the TIPS authors' .npz/.zip checkpoints to HF format"),
    "export": ("tips_ros.onnx_export", "export backbone + heads to ONNX (onnxruntime, TensorRT)"),
}

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _available() -> dict[str, tuple[str, str]]:
    return {
        name: spec for name, spec in COMMANDS.items() if importlib.util.find_spec(spec[0]) is not None
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tips-ros", description="TIPSv2 dense perception: tools around the ROS 2 node."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in _available().items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module_name).add_arguments(command)
        command.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tips-ros`` console script."""
    args = build_parser().parse_args(argv)
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
