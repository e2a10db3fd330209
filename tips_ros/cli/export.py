# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros export``: flags -> ``ExportOptions`` -> ``export``, then what the file holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from tips_ros.cli.flags import options_from
from tips_ros.engine.onnx_export import export, ExportOptions
from tips_ros.engine.onnx_format import OPSET
from tips_ros.engine.prediction import HEADS
from tips_ros.errors import UsageError
from tips_ros.offline.arguments import parse_list


def _batch(value: str) -> int | None:
    if value == "dynamic":
        return None
    try:
        return int(value)  # ExportOptions checks that it is positive
    except ValueError:
        raise UsageError(f"--batch takes a number or 'dynamic', not {value!r}") from None


def _heads(text: str) -> tuple[str, ...]:
    return tuple(parse_list(text))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros export`` (the fields of ``ExportOptions``)."""
    default = ExportOptions
    height, width = default.input_size
    parser.add_argument("--onnx", required=True, type=Path, help="output .onnx file")
    parser.add_argument("--model", default=default.model, help="hub id or directory")
    parser.add_argument("--heads", type=_heads, default=default.heads,
                        help=f"comma-separated subset of {','.join(HEADS)} (default: all)")
    parser.add_argument("--input-size", nargs=2, type=int, default=default.input_size,
                        metavar=("H", "W"),
                        help=f"model input height and width in pixels (default {height} "
                        f"{width})")
    parser.add_argument("--batch", type=_batch, default=default.batch,
                        help="frames per run: a number (fixed, best for TensorRT) or 'dynamic'")
    parser.add_argument("--fp16", action="store_true",
                        help="fp16 weights and network (depth expectation and normals stay fp32)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="allow non-safetensors (pickle) weights; unsafe with untrusted files")


def options(args: argparse.Namespace) -> ExportOptions:
    """Return the export the parsed flags ``args`` describe (checked: ``UsageError``)."""
    return options_from(ExportOptions, args)


def run(args: argparse.Namespace) -> int:
    """Run ``tips-ros export``: write and check the ONNX file, print what it holds."""
    chosen = options(args)
    export(chosen.model, chosen.onnx, chosen.heads, chosen.input_size, chosen.batch,
           chosen.fp16, chosen.allow_pickle)
    batch = "dynamic" if chosen.batch is None else chosen.batch
    height, width = chosen.input_size
    print(f"wrote {chosen.onnx} ({chosen.onnx.stat().st_size / 1e6:.1f} MB): heads "
          f"{','.join(chosen.heads)}, input {height}x{width}, batch {batch}, opset {OPSET}, "
          f"{'fp16' if chosen.fp16 else 'fp32'}; ONNX checker passed")
    return 0
