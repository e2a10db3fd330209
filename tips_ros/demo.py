"""``tips-ros demo``: the whole job in one command.

Renders a synthetic bag with exact ground truth (``tips-ros synth-bag``), replays it through
the model with every ground-truth topic and a few text queries (``tips-ros replay``), and
writes the output bag, the JSON report and a preview picture into one directory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tips_ros import replay
from tips_ros.arguments import Size
from tips_ros.bags import SYNTH_TOPICS, synth_size, write_synth_bag
from tips_ros.errors import ModelLoadError

DEFAULT_QUERIES = "floor, wall, a box, a ball"
OFFLINE_HINT = ("run it on random test weights instead: `tips-ros make-test-model /tmp/tips && "
                "tips-ros demo --model /tmp/tips/dpt --text-model /tmp/tips/text`")


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


def run(args: argparse.Namespace) -> int:
    """Load the model (first, so a missing model fails fast), render, replay, report."""
    started = time.perf_counter()
    try:
        engine = replay.load_engine(args)
    except ModelLoadError as err:
        reason = str(err).split(";")[0].rstrip(".")
        raise ModelLoadError(f"The demo cannot load its model ({reason}); {OFFLINE_HINT}.") \
            from err
    load_s = time.perf_counter() - started
    out = _output_dir(args.out)
    options = replay_args(args, out)
    write_synth_bag(options.bag, frames=args.frames, size=args.size)
    report = replay.replay(options, engine, load_s=load_s)
    print(replay.format_table(report))
    print(f"synthetic bag (input + ground truth): {options.bag}")
    print(f"output bag (/tips/... topics):        {options.output}")
    print(f"report:                               {options.report}")
    print(f"preview picture:                      {options.preview}")
    return 0
