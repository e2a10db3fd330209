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
from pathlib import Path
from typing import TYPE_CHECKING

from tips_ros.offline import replay
from tips_ros.offline.arguments import Size
from tips_ros.offline.bags import SYNTH_TOPICS, synth_size, write_synth_bag
from tips_ros.errors import ModelUnavailableError

if TYPE_CHECKING:
    from tips_ros.engine import Engine

DEFAULT_QUERIES = "floor, wall, a box, a ball"
#: ``make-test-model`` size of the offline demo's random weights: the TIPSv2 classes, heads,
#: tokenizer and code path at a small width (~0.3-2 s per frame on a 2-core CPU). The B/14
#: shapes take ~11-37 s per frame there and 22 s to write 1.4 GB of weights, and a smaller
#: ViT with the real DPT heads saves little: the 256-channel fusion stages are most of the cost.
RANDOM_SIZE = "tiny"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tips-ros demo``."""
    parser.add_argument("--model", default="google/tipsv2-b14-dpt", help="hub id or directory")
    parser.add_argument("--text-model", default="google/tipsv2-b14", help="hub id or directory")
    parser.add_argument("--out", help="output directory, new or empty (default: a new temp dir)")
    parser.add_argument("--frames", type=int, default=8, help="synthetic frames (default 8)")
    parser.add_argument("--size", type=synth_size, default=Size(320, 240), help="WIDTHxHEIGHT")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", help="auto, bf16, fp16 or fp32")


def replay_args(args: argparse.Namespace, out: Path) -> argparse.Namespace:
    """``tips-ros replay`` arguments that score the synthetic bag in ``out`` on every task."""
    parser = argparse.ArgumentParser()
    replay.add_arguments(parser)
    return parser.parse_args([
        str(out / "synthetic_bag"), "--output", str(out / "tips_bag"),
        "--image-topic", SYNTH_TOPICS["image"],
        "--gt-depth-topic", SYNTH_TOPICS["depth"],
        "--gt-normals-topic", SYNTH_TOPICS["normals"],
        "--gt-labels-topic", SYNTH_TOPICS["labels"],
        "--queries", DEFAULT_QUERIES,
        "--model", args.model, "--text-model", args.text_model,
        "--device", args.device, "--precision", args.precision,
        "--report", str(out / "report.json"), "--preview", str(out / "preview.png"),
    ])


def _output_dir(requested: str | None) -> Path:
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="tips-demo-"))
    out = Path(requested)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"Demo directory {out} is not empty; choose a new one.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def random_engine(options: argparse.Namespace, out: Path, reason: str) -> Engine:
    """Say why on stderr, write random ``RANDOM_SIZE`` models to ``out/random_model``, point
    the replay ``options`` at them and load them."""
    from tips_ros.offline.preview import RANDOM_WEIGHTS_NOTE  # light imports until a command runs
    from tips_ros.engine.testmodel import write_test_models

    print(f"tips-ros demo: {reason}: running on random weights of the TIPSv2 architecture "
          f"(make-test-model size '{RANDOM_SIZE}', in {out / 'random_model'}); "
          f"{RANDOM_WEIGHTS_NOTE}", file=sys.stderr, flush=True)
    dpt, text = write_test_models(out / "random_model", RANDOM_SIZE)
    options.model, options.text_model = str(dpt), str(text)
    return replay.load_engine(options)


def run(args: argparse.Namespace) -> int:
    """Load the model, render, replay, report.

    A hub model that cannot be had (offline, hub unreachable, unknown id) is replaced by random
    weights; any other loading problem (a bad local directory, torch too old) is an error.
    """
    out = _output_dir(args.out)
    options = replay_args(args, out)
    started = time.perf_counter()
    try:
        engine = replay.load_engine(options)
    except ModelUnavailableError as err:
        engine = random_engine(options, out, str(err).split(";")[0].rstrip("."))
    load_s = time.perf_counter() - started
    write_synth_bag(options.bag, frames=args.frames, size=args.size)
    report = replay.replay(options, engine, load_s=load_s)
    print(replay.format_table(report))
    print(f"synthetic bag (input + ground truth): {options.bag}")
    print(f"output bag (/tips/... topics):        {options.output}")
    print(f"report:                               {options.report}")
    print(f"preview picture:                      {options.preview}")
    if report["weights"] == "random":
        from tips_ros.offline.preview import RANDOM_WEIGHTS_NOTE

        print(RANDOM_WEIGHTS_NOTE)
    return 0
