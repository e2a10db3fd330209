# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Flags shared by several subcommands, and options built from parsed flags.

A flag's destination is the name of the option field it sets (``--gt-depth-topic`` ->
``RunOptions.gt_depth_topic``) and its default is that field's default, read from the options
class, so :func:`options_from` builds the options from a parsed ``argparse.Namespace`` and no
default is written twice.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from tips_ros.engine.prediction import ALL_HEADS, HEADS, ON_REQUEST_VIEWS
from tips_ros.offline.arguments import parse_list, positive_int, query_list
from tips_ros.offline.bags import STORAGES
from tips_ros.offline.options import checked_heads, RunOptions

T = TypeVar("T")


def options_from(cls: type[T], args: argparse.Namespace, **given: Any) -> T:
    """Return ``cls(...)`` from the fields of ``cls`` found in ``args``, and ``given``."""
    values = {item.name: getattr(args, item.name) for item in fields(cls)  # type: ignore[arg-type]
              if item.name not in given and hasattr(args, item.name)}
    return cls(**values, **given)


def run_options(args: argparse.Namespace) -> RunOptions:
    """Return the ``RunOptions`` of ``args``: the flags given, over ``--params-file``.

    A flag counts as given when it differs from its default (argparse cannot tell a flag
    repeated with its default value; that value is the default anyway unless the file sets it).
    """
    path = getattr(args, "params_file", None)
    if path is None:
        return options_from(RunOptions, args)
    from tips_ros.offline.params_file import read_params_file, run_settings

    settings, not_applied = run_settings(read_params_file(path))
    flags = {item.name for item in fields(RunOptions) if hasattr(args, item.name)
             and getattr(args, item.name) != item.default}
    from_file = {name: value for name, value in settings.items() if name not in flags}
    sources = dict.fromkeys(flags, "flag") | dict.fromkeys(from_file, f"params file {path}")
    # built once, with the file's values: --heads heatmaps may rely on the file's queries
    return options_from(RunOptions, args, **from_file, sources=sources,
                        not_applied=not_applied)


def add_seed(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    """Add ``--seed``: the integer seed of what a generator command writes (``what``: help)."""
    parser.add_argument("--seed", type=int, default=default, help=what)


def head_list(text: str) -> frozenset[str]:
    """Parse ``--heads``: comma-separated head names."""
    return checked_heads(parse_list(text))


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--model``, ``--text-model``, ``--device`` and ``--precision`` (replay, demo)."""
    parser.add_argument("--model", default=RunOptions.model, help="hub id or directory")
    parser.add_argument("--text-model", default=RunOptions.text_model,
                        help="hub id or directory")
    parser.add_argument("--device", default=RunOptions.device, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default=RunOptions.precision,
                        help="auto, bf16, fp16 or fp32")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``RunOptions`` (shared by ``tips-ros replay`` and ``evaluate``)."""
    default = RunOptions
    parser.add_argument("--image-topic", help="Image or CompressedImage topic "
                        "(default: the bag's only image topic besides ground truth)")
    parser.add_argument("--camera-info-topic", help="CameraInfo topic "
                        "(default: <image namespace>/camera_info if in the bag)")
    parser.add_argument("--gt-depth-topic", help="ground-truth depth (32FC1 m or 16UC1 mm)")
    parser.add_argument("--gt-normals-topic", help="ground-truth normals (32FC3, optical frame)")
    parser.add_argument("--gt-labels-topic", help="ground-truth class ids (mono8/16UC1)")
    add_model_options(parser)
    parser.add_argument("--params-file", type=Path,
                        help="the node's parameters file (YAML, ros__parameters): its engine "
                        "parameters (model ... onnx_model, output_size, heatmap, zero-shot "
                        "and PCA settings), text_queries, prompt_templates and "
                        "detection_threshold apply, the live-only ones (cameras, QoS, "
                        "batching, ...) do not; flags given override it; the report lists "
                        "what came from where")
    parser.add_argument("--input-size", type=positive_int, default=default.input_size,
                        help="model input side in pixels, a multiple of 14 (the node's "
                        "input_size)")
    parser.add_argument("--keep-aspect", action="store_true",
                        help="keep the image aspect ratio (short side = input size)")
    parser.add_argument("--compile", default=default.compile,
                        help="torch.compile mode (the node's compile parameter)")
    parser.add_argument("--backend", default=default.backend,
                        help="torch, or onnxruntime (runs --onnx-model)")
    parser.add_argument("--onnx-model", type=Path, default=default.onnx_model,
                        help="ONNX file written by `tips-ros export` (--backend onnxruntime)")
    parser.add_argument("--heads", type=head_list, default=default.heads,
                        help=f"comma-separated subset of {','.join(ALL_HEADS)} (default: "
                        f"{','.join(HEADS)}; heatmaps and zeroshot only with --queries); "
                        f"also {','.join(sorted(ON_REQUEST_VIEWS))}, written only when named")
    parser.add_argument("--queries", type=query_list, default=default.queries,
                        help='text queries: "a,b" or a JSON list')
    parser.add_argument("--batch", type=positive_int, default=default.batch,
                        help="frames per forward pass")
    parser.add_argument("--max-frames", type=positive_int, default=default.max_frames,
                        help="stop after this many input frames")
    parser.add_argument("--every", type=positive_int, default=default.every,
                        help="use every Nth frame")
    parser.add_argument("--prefix", default=default.prefix,
                        help=f"output topic prefix (default {default.prefix})")
    parser.add_argument("--storage", choices=sorted(STORAGES), default=default.storage,
                        help="output bag storage")
    parser.add_argument("--output-size", default=default.output_size,
                        help="resolution of the outputs: input (the camera's), WIDTHxHEIGHT "
                        "or a scale in (0, 1] (default input)")
    parser.add_argument("--median-scaling", action="store_true",
                        help="scale each predicted depth map by median(gt)/median(pred) "
                        "before scoring (off: metric depth is scored as is)")
    parser.add_argument("--detection-threshold", type=float, default=default.detection_threshold,
                        help="cosine above which heatmap regions become detections "
                        "(vision_msgs, written with the heatmaps)")
