# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Every ``tips-ros`` subcommand has the same shape (``tips_ros/cli/``).

Flags -> typed frozen options -> a library function: parsing only a command's required
arguments gives the options class's defaults (the flags take their defaults from it), and a
bad value is a ``UsageError`` of one sentence when the options are built, whoever builds them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tips_ros.cli import bench, build_parser, COMMANDS, command_module
from tips_ros.engine.onnx_export import ExportOptions
from tips_ros.engine.testmodel import MakeTestModelOptions
from tips_ros.errors import UsageError
from tips_ros.offline.bags import SynthBagOptions
from tips_ros.offline.demo import DemoOptions
from tips_ros.offline.options import EvaluateOptions, ReplayOptions
from tips_ros.tools.bench import BenchOptions, E2EOptions
from tips_ros.tools.convert import ConvertOptions


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser(argv[0]).parse_args(argv)


def test_flags_default_to_the_options_defaults() -> None:
    import importlib

    modules = {name: importlib.import_module(command_module(name)) for name in COMMANDS}
    assert modules["synth-bag"].options(parsed("synth-bag", "x")) == SynthBagOptions(Path("x"))
    assert modules["make-test-model"].options(parsed("make-test-model", "m")) == \
        MakeTestModelOptions(Path("m"))
    assert modules["export"].options(parsed("export", "--onnx", "m.onnx")) == \
        ExportOptions(Path("m.onnx"))
    assert modules["convert"].options(parsed("convert", "--vision", "v", "--output", "o",
                                             "--dpt", "d")) == ConvertOptions("v", "o", dpt=["d"])
    assert modules["demo"].options(parsed("demo")) == DemoOptions()
    assert modules["replay"].options(parsed("replay", "b", "--output", "o")) == \
        ReplayOptions(Path("b"), Path("o"))
    assert modules["evaluate"].options(parsed("evaluate", "b", "--output", "o")) == \
        EvaluateOptions(["b"], "o")
    assert bench.options(parsed("bench"), "m", "t") == BenchOptions("m", "t")
    grid = bench.options(parsed("bench", "--e2e", "--e2e-grid-sizes", "640x480,1920x1080",
                                "--e2e-grid-output-sizes", "input,480X270", "--e2e-outputs",
                                "images"), "m", "t").e2e
    assert grid == E2EOptions(grid_sizes=((640, 480), (1920, 1080)),
                              grid_output_sizes=("input", "480x270"), outputs="images")


@pytest.mark.parametrize("build, message", [
    (lambda: SynthBagOptions("x", frames=0), "frames must be a positive integer"),
    (lambda: SynthBagOptions("x", size=(8, 64)), "too small (at least 16x16)"),
    (lambda: SynthBagOptions("x", storage="zip"), "storage must be one of"),
    (lambda: MakeTestModelOptions("x", size="huge"), "unknown size 'huge'"),
    (lambda: ExportOptions("m.onnx", heads=("depth", "nope")), "non-empty subset"),
    (lambda: ExportOptions("m.onnx", batch=0), "positive number or 'dynamic'"),
    (lambda: ConvertOptions("v.npz", "out"), "nothing to convert"),
    (lambda: ConvertOptions("v.npz", "out", text="t.npz"), "go together"),
    (lambda: EvaluateOptions((), "out"), "at least one bag"),
    (lambda: EvaluateOptions(["b"], "out", workers=0), "workers must be a positive integer"),
    (lambda: EvaluateOptions(["b"], "out", gpus_per_worker=-1.0), "number >= 0"),
    (lambda: DemoOptions(frames=0), "frames must be a positive integer"),
    (lambda: BenchOptions("m", "t", batches=(0,)), "positive"),
    (lambda: E2EOptions(grid_output_sizes=("input", "2x")), "--e2e-grid-output-sizes: "),
    (lambda: E2EOptions(frames=0), "--e2e-frames >= 1"),
    (lambda: E2EOptions(outputs="points"), "--e2e-outputs must be one of images, all"),
    (lambda: bench.options(parsed("bench", "--e2e-grid-sizes", "64x48"), "m", "t"), "need --e2e"),
], ids=["frames", "size", "storage", "model-size", "heads", "batch", "nothing", "tokenizer",
        "no-inputs", "workers", "gpus", "demo-frames", "bench-batch", "grid-output",
        "e2e-frames", "e2e-outputs", "grid-alone"])
def test_bad_values_are_one_sentence(build, message: str) -> None:
    with pytest.raises(UsageError) as error:
        build()
    assert message in str(error.value) and "\n" not in str(error.value)
