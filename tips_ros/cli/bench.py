# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros bench``: flags -> ``BenchOptions`` -> ``benchmark``, then the printed table.

The list flags (``--precision fp32,bf16``) are comma lists of the options' tuple fields; their
defaults are those fields' defaults, written as the flag would be.
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
from pathlib import Path

from tips_ros.errors import UsageError
from tips_ros.offline.arguments import parse_list, parse_size, query_list
from tips_ros.offline.options import RunOptions
from tips_ros.tools.bench import BenchOptions, benchmark, E2EOptions
from tips_ros.tools.bench.options import E2E_OUTPUTS
from tips_ros.tools.bench.report import print_table


def _comma(items: tuple[object, ...]) -> str:
    return ",".join(map(str, items))


def _list_flag(items: list[str]) -> str:
    """Return a list of strings as a list flag takes it: a comma list, or JSON if needs be."""
    return json.dumps(items) if any("," in item for item in items) else _comma(tuple(items))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros bench`` to ``parser``."""
    default, e2e = BenchOptions, E2EOptions
    add = parser.add_argument
    add("--model", help="DPT model (hub id or directory); default: --make-model's")
    add("--text-model", help=f"image-text model (hub id or directory; default "
        f"{RunOptions.text_model} with --model)")
    add("--make-model", choices=("tiny", "b14"), default=None,
        help="write random weights of this size to a temp dir (when --model is not given)")
    add("--device", default=default.device, help="auto, cpu, cuda or cuda:N")
    add("--precision", default=_comma(default.precisions),
        help="comma list of fp32, bf16, fp16")
    add("--backend", default=_comma(default.backends),
        help="comma list of torch, onnxruntime (exported in the run: fp32, fp16)")
    add("--batch", default=_comma(default.batches),
        help="comma list of batch sizes (frames per forward)")
    add("--compile", default=_comma(default.compile_modes),
        help="comma list of none, default, reduce-overhead, max-autotune")
    add("--compile-backend", default=default.compile_backend,
        help="torch.compile backend: inductor, or eager/aot_eager (Dynamo only, CPU checks)")
    add("--channels-last", action="store_true", help="channels-last DPT convolutions")
    add("--heads", default=_comma(default.heads),
        help="comma list of head sets: all, or +-joined heads/views (depth+normals)")
    add("--size", default="x".join(map(str, default.frame_size)),
        help="camera frame WIDTHxHEIGHT")
    add("--input-size", type=int, default=default.input_size,
        help="model input side (multiple of 14)")
    add("--output-size", default=default.output_size,
        help="outputs' resolution: input, WIDTHxHEIGHT or a scale in (0, 1] (node parameter "
        "output_size; --e2e starts the node with it)")
    add("--iters", type=int, default=default.iters, help="timed calls per configuration")
    add("--warmup", type=int, default=default.warmup, help="untimed calls before timing")
    add("--profile-iters", type=int, default=default.profile_iters,
        help="calls of the stage-profiling pass")
    add("--queries", default=_comma(default.queries),
        help='heatmap queries: "a,b" or a JSON list (as replay and the queries topic)')
    add("--json", help="write the full report to this JSON file")
    add("--params-file", type=Path, help="the node's parameters file (YAML): every engine "
        "parameter, text_queries and prompt_templates apply to every configuration (the "
        "swept ones as one value); flags given override it; live-only parameters are not "
        "applied; the report records the configuration and where each value came from")
    add("--e2e", action="store_true", help="also run end to end through rclpy processes")
    add("--e2e-rate", type=float, default=e2e.rate_hz, help="offered camera rate, Hz")
    add("--e2e-frames", type=int, default=e2e.frames, help="measured e2e frames")
    add("--e2e-warmup-frames", type=int, default=e2e.warmup_frames,
        help="e2e frames excluded at the start")
    add("--e2e-outputs", choices=E2E_OUTPUTS, default=e2e.outputs,
        help="subscribed in the e2e run: images (the seven image outputs) or all (also "
        "segmentation/confidence, points, detections, detections_3d); the node computes only "
        "what is subscribed")
    add("--e2e-grid-sizes", default=_comma(e2e.grid_sizes),
        help="with --e2e: comma list of camera WIDTHxHEIGHT, one e2e run per size x "
        "--e2e-grid-output-sizes (default: --size alone) into the JSON's e2e_grid")
    add("--e2e-grid-output-sizes", default=_comma(e2e.grid_output_sizes),
        help="with --e2e: comma list of output_size values (input, WIDTHxHEIGHT, a scale) of "
        "the grid (default: --output-size alone)")


def with_params_file(args: argparse.Namespace) -> argparse.Namespace:
    """Return ``args`` with the ``--params-file`` values for every flag left at its default.

    The file is read as ``tips-ros replay`` reads it (the node's parameter specs). A parameter
    with a bench flag of its name (``text_queries``: ``--queries``) sets the flag unless it was
    given; the other parameters the bench applies (:data:`~tips_ros.tools.bench.options.APPLIED`:
    keep_aspect, prompt_templates, heatmap_mode, ...) go to ``args._parameters``, the
    live-only ones to ``args._not_applied`` (printed), where each setting came from to
    ``args._sources``.
    """
    if args.params_file is None:
        return args
    from tips_ros.offline.params_file import read_params_file, RUN_FIELDS
    from tips_ros.tools.bench.options import APPLIED, own_field

    defaults = argparse.ArgumentParser()
    add_arguments(defaults)
    default_of = vars(defaults.parse_args([]))
    values = dict(vars(args))
    given = {name for name, value in values.items()
             if name in default_of and value != default_of[name] and name != "params_file"}
    parameters, sources, not_applied = {}, dict.fromkeys(given, "flag"), []
    from_file = f"params file {args.params_file}"
    for name, value in read_params_file(args.params_file).items():
        flag = RUN_FIELDS.get(name, name)
        if own_field(name) and flag in default_of:
            if flag not in given:
                values[flag] = _list_flag(value) if isinstance(value, list) else value
                sources[flag] = from_file
        elif name in APPLIED:
            parameters[name], sources[name] = value, from_file
        else:
            not_applied.append(name)
    if not_applied:
        print(f"tips-ros bench: not applied from {args.params_file}: {', '.join(not_applied)}")
    return argparse.Namespace(**values, _parameters=parameters, _sources=sources,
                              _not_applied=tuple(not_applied))


def options(args: argparse.Namespace, model: str, text_model: str) -> BenchOptions:
    """Return the options the parsed flags ``args`` describe, for ``model``/``text_model``.

    With :func:`with_params_file`'s additions, the params file's other parameters too.
    """
    grid = (tuple(parse_list(args.e2e_grid_sizes, parse_size)),
            tuple(parse_list(args.e2e_grid_output_sizes)))
    if any(grid) and not args.e2e:
        raise UsageError("--e2e-grid-sizes and --e2e-grid-output-sizes need --e2e")
    e2e = (E2EOptions(args.e2e_rate, args.e2e_frames, args.e2e_warmup_frames, *grid,
                      outputs=args.e2e_outputs)
           if args.e2e else None)
    return BenchOptions(
        model=model, text_model=text_model, device=args.device,
        precisions=tuple(parse_list(args.precision)), backends=tuple(parse_list(args.backend)),
        batches=tuple(parse_list(args.batch, int)), compile_modes=tuple(parse_list(args.compile)),
        compile_backend=args.compile_backend,
        channels_last=args.channels_last, heads=tuple(parse_list(args.heads)),
        frame_size=parse_size(args.size), input_size=args.input_size,
        output_size=args.output_size, iters=args.iters,
        warmup=args.warmup, profile_iters=args.profile_iters,
        queries=tuple(query_list(args.queries)), e2e=e2e,
        parameters=getattr(args, "_parameters", {}), sources=getattr(args, "_sources", {}),
        not_applied=getattr(args, "_not_applied", ()))


def command_line(args: argparse.Namespace) -> str:
    """Return the equivalent ``tips-ros bench`` command with every option spelt out."""
    parts = ["tips-ros", "bench"]
    for name, value in sorted(vars(args).items()):
        if name.startswith("_") or name == "command" or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """Run ``tips-ros bench``: every configuration, a printed table, optionally JSON."""
    args = with_params_file(args)
    if args.model is None and args.make_model is None:
        raise UsageError("give --model (and --text-model) or --make-model tiny|b14")
    with tempfile.TemporaryDirectory(prefix="tips_bench_") as tmp:
        if args.model is None:
            from tips_ros.engine.testmodel import write_test_models

            model, text_model = (str(p) for p in write_test_models(tmp, args.make_model))
        else:
            model, text_model = args.model, args.text_model or RunOptions.text_model
        report = benchmark(options(args, model, text_model),
                           Path(args.json) if args.json else None, command_line(args),
                           args.model or f"random {args.make_model}")
    print_table(report)
    return 0
