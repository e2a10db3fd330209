# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros demo``: the whole job in one command.

Renders a synthetic bag with exact ground truth (``tips-ros synth-bag``), replays it through
the model with every ground-truth topic and a few text queries (``tips-ros replay``), and
writes the output bag, the JSON report and a preview picture into one directory.

With Hugging Face hub access (or the models in the local cache) it runs the released weights.
Without (``HF_HUB_OFFLINE=1``, hub unreachable, unknown id) it writes random weights of the
TIPSv2 architecture itself (``tips-ros make-test-model``, size :data:`RANDOM_SIZE`) and says so
on stderr at start, in the report (``"weights": "random"``) and on the preview picture.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tips_ros.errors import ModelUnavailableError
from tips_ros.offline.arguments import Size
from tips_ros.offline.bags import SYNTH_TOPICS, synth_size, write_synth_bag
from tips_ros.offline.options import add_model_options, ReplayOptions, RunOptions
from tips_ros.offline.replay import load_engine, replay
from tips_ros.offline.report import format_table

if TYPE_CHECKING:
    from tips_ros.engine import Engine

DEFAULT_QUERIES = ("floor", "wall", "a box", "a ball")
#: ``make-test-model`` size of the offline demo's random weights: the TIPSv2 classes, heads,
#: tokenizer and code path at a small width (~0.3-2 s per frame on a 2-core CPU). The B/14
#: shapes take ~11-37 s per frame there and 22 s to write 1.4 GB of weights, and a smaller
#: ViT with the real DPT heads saves little: the 256-channel fusion stages are most of the cost.
RANDOM_SIZE = "tiny"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros demo``."""
    add_model_options(parser)
    parser.add_argument("--out", help="output directory, new or empty (default: a new temp dir)")
    parser.add_argument("--frames", type=int, default=8, help="synthetic frames (default 8)")
    parser.add_argument("--size", type=synth_size, default=Size(320, 240), help="WIDTHxHEIGHT")


def replay_options(args: argparse.Namespace, out: Path) -> ReplayOptions:
    """Return the replay that scores the synthetic bag in ``out`` on every task."""
    run = RunOptions(image_topic=SYNTH_TOPICS["image"], gt_depth_topic=SYNTH_TOPICS["depth"],
                     gt_normals_topic=SYNTH_TOPICS["normals"],
                     gt_labels_topic=SYNTH_TOPICS["labels"], queries=DEFAULT_QUERIES,
                     model=args.model, text_model=args.text_model, device=args.device,
                     precision=args.precision)
    return ReplayOptions(out / "synthetic_bag", out / "tips_bag", run,
                         report=out / "report.json", preview=out / "preview.png")


def _output_dir(requested: str | None) -> Path:
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="tips-demo-"))
    out = Path(requested)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"Demo directory {out} is not empty; choose a new one.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def random_engine(options: ReplayOptions, out: Path,
                  reason: str) -> tuple[Engine, ReplayOptions]:
    """Load random ``RANDOM_SIZE`` models written to ``out/random_model``, saying why.

    The reason goes to stderr first. Returns the engine and ``options`` pointed at the
    random models.
    """
    from tips_ros.engine.testmodel import write_test_models
    from tips_ros.offline.preview import RANDOM_WEIGHTS_NOTE  # light imports until a command

    print(f"tips-ros demo: {reason}: running on random weights of the TIPSv2 architecture "
          f"(make-test-model size '{RANDOM_SIZE}', in {out / 'random_model'}); "
          f"{RANDOM_WEIGHTS_NOTE}", file=sys.stderr, flush=True)
    dpt, text = write_test_models(out / "random_model", RANDOM_SIZE)
    options = replace(options, run=replace(options.run, model=str(dpt), text_model=str(text)))
    return load_engine(options.run), options


def run(args: argparse.Namespace) -> int:
    """Load the model, render, replay, report.

    A hub model that cannot be had (offline, hub unreachable, unknown id) is replaced by random
    weights; any other loading problem (a bad local directory, torch too old) is an error.
    """
    out = _output_dir(args.out)
    options = replay_options(args, out)
    started = time.perf_counter()
    try:
        engine = load_engine(options.run)
    except ModelUnavailableError as err:
        engine, options = random_engine(options, out, str(err).split(";")[0].rstrip("."))
    load_s = time.perf_counter() - started
    write_synth_bag(options.bag, frames=args.frames, size=args.size)
    report = replay(options, engine, load_s=load_s)
    print(format_table(report))
    print(f"synthetic bag (input + ground truth): {options.bag}")
    print(f"output bag (/tips/... topics):        {options.output}")
    print(f"report:                               {options.report}")
    print(f"preview picture:                      {options.preview}")
    if report["weights"] == "random":
        from tips_ros.offline.preview import RANDOM_WEIGHTS_NOTE

        print(RANDOM_WEIGHTS_NOTE)
    return 0
