# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros demo``: the whole job in one command.

Renders a synthetic bag with exact ground truth (``tips-ros synth-bag``), replays it through
the model with every ground-truth topic and a few text queries (``tips-ros replay``), and
writes the output bag, the JSON report and a preview picture into one directory. The API is
``demo(DemoOptions(...))``; the command is ``tips_ros.cli.demo``.

With Hugging Face hub access (or the models in the local cache) it runs the released weights.
Without (``HF_HUB_OFFLINE=1``, hub unreachable, unknown id) it writes random weights of the
TIPSv2 architecture itself (``tips-ros make-test-model``, size :data:`RANDOM_SIZE`) and says so
on stderr at start, in the report (``"weights": "random"``) and on the preview picture.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TYPE_CHECKING

from tips_ros.errors import ModelUnavailableError
from tips_ros.offline.arguments import Size
from tips_ros.offline.bags import SYNTH_TOPICS, SynthBagOptions, write_synth_bag
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.replay import engine_for, replay

if TYPE_CHECKING:
    from tips_ros.engine import Engine

DEFAULT_QUERIES = ("floor", "wall", "a box", "a ball")
#: ``make-test-model`` size of the offline demo's random weights: the TIPSv2 classes, heads,
#: tokenizer and code path at a small width (~0.3-2 s per frame on a 2-core CPU). The B/14
#: shapes take ~11-37 s per frame there and 22 s to write 1.4 GB of weights, and a smaller
#: ViT with the real DPT heads saves little: the 256-channel fusion stages are most of the cost.
RANDOM_SIZE = "tiny"


@dataclass(frozen=True)
class DemoOptions:
    """A demo (``tips-ros demo``): ``frames`` synthetic frames of ``size`` replayed into ``out``.

    ``out`` is a new or empty directory (``None``: a new temporary one); ``size`` is (width,
    height) in pixels; ``model``, ``text_model``, ``device`` and ``precision`` are those of
    :class:`RunOptions`. Checked when built (``UsageError``, one sentence; the frames and
    size as :class:`SynthBagOptions`).
    """

    out: Path | None = None
    frames: int = 8
    size: Size = Size(320, 240)
    model: str = RunOptions.model
    text_model: str = RunOptions.text_model
    device: str = RunOptions.device
    precision: str = RunOptions.precision

    def __post_init__(self) -> None:
        """Normalise the types and check the synthetic bag's values (``UsageError``)."""
        object.__setattr__(self, "out", None if self.out is None else Path(self.out))
        object.__setattr__(self, "size", Size(*self.size))
        SynthBagOptions(Path(), self.frames, self.size)


def replay_options(options: DemoOptions, out: Path) -> ReplayOptions:
    """Return the replay that scores the synthetic bag in ``out`` on every task."""
    run = RunOptions(image_topic=SYNTH_TOPICS["image"], gt_depth_topic=SYNTH_TOPICS["depth"],
                     gt_normals_topic=SYNTH_TOPICS["normals"],
                     gt_labels_topic=SYNTH_TOPICS["labels"], queries=DEFAULT_QUERIES,
                     model=options.model, text_model=options.text_model,
                     device=options.device, precision=options.precision)
    return ReplayOptions(out / "synthetic_bag", out / "tips_bag", run,
                         report=out / "report.json", preview=out / "preview.png")


def _output_dir(requested: Path | None) -> Path:
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
    return engine_for(options.run), options


def demo(options: DemoOptions) -> tuple[dict[str, Any], ReplayOptions]:
    """Load the model, render, replay; return the report and the replay it ran (its paths).

    A hub model that cannot be had (offline, hub unreachable, unknown id) is replaced by random
    weights (said on stderr first, and in the report as ``"weights": "random"``); any other
    loading problem (a bad local directory, torch too old) is an error.
    """
    out = _output_dir(options.out)
    chosen = replay_options(options, out)
    started = time.perf_counter()
    try:
        engine = engine_for(chosen.run)
    except ModelUnavailableError as err:
        engine, chosen = random_engine(chosen, out, str(err).split(";")[0].rstrip("."))
    load_s = time.perf_counter() - started
    write_synth_bag(chosen.bag, frames=options.frames, size=options.size)
    return replay(chosen, engine, load_s=load_s), chosen
