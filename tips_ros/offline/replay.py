# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros replay``: run the node's pipeline over a recorded bag, offline and without ROS.

Reads a rosbag2 (sqlite3 or mcap, any distro's type definitions) with ``rosbags``, decodes
the camera topic (``sensor_msgs/Image`` or ``CompressedImage``), runs the engine in batches
and writes an output bag holding exactly what the node would publish for each frame: the
topics of ``tips_ros.io.outputs`` under a prefix (default ``/tips``), with the input's header
stamp and frame id, and the node's offered QoS recorded. Ground-truth topics, when given,
are matched to predictions by header stamp and scored with ``tips_ros.offline.metrics``; the
JSON report (see ``docs/replay.md``) holds counts, speed, metrics and provenance.

The API is ``replay(ReplayOptions(...))`` (``tips_ros.offline.options``); the pieces live in
``inputs`` (topics, ground truth), ``frame_loop`` (read -> engine -> write), ``output_bag``,
``scoring`` and ``report``; the command is ``tips_ros.cli.replay``.

Failure policy: an undecodable frame is counted in ``frames_failed`` (by reason) and skipped;
a bag that cannot be read to the end raises ``BagError`` and Ctrl-C raises
``KeyboardInterrupt``, in both cases after the output bag is closed (it stays readable with
the frames done) and the report is written with what was done.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TYPE_CHECKING

from tips_ros.engine.parameters import engine_value, SPEC_BY_NAME, SPECS
from tips_ros.io.outputs import topics_for
from tips_ros.offline.arguments import check_folder_writable, check_writable
from tips_ros.offline.bags import BagWriter, open_bag
from tips_ros.offline.frame_loop import FrameProgress, Replayer, ReplayState
from tips_ros.offline.inputs import resolve_topics, Topics
from tips_ros.offline.metrics import MetricsAccumulator
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.output_bag import OutputBag
from tips_ros.offline.vision_types import register_vision_msgs
from tips_ros.offline.report import build_report, write_json
from tips_ros.offline.scoring import Scorer

if TYPE_CHECKING:
    from tips_ros.engine import Engine

__all__ = ["ReplayOptions", "RunOptions", "check_inputs", "expected_frames", "engine_for",
           "replay"]


def replay(options: ReplayOptions, engine: Engine | None = None, *, load_s: float = 0.0,
           metrics: MetricsAccumulator | None = None,
           progress: FrameProgress | None = None) -> dict[str, Any]:
    """Replay ``options.bag`` into ``options.output``; return the report (a JSON-ready dict).

    Without ``engine``, the model of ``options.run`` is loaded (the seconds it took are in the
    report as ``model_load_s``) and released at the end. With a loaded ``engine`` (reused over
    several bags), ``load_s`` is the seconds it took to load; its queries, prompt templates,
    output size and runtime settings (:func:`per_run_settings`) are set to ``options.run``'s.
    ``metrics``, when given, is scored into (e.g. one accumulator over several bags; the report
    then holds the running totals); ``progress`` replaces the replay's own progress bar. The
    report is also written to ``options.report``.

    The report is written and the output bag closed also when the bag turns out corrupt
    (``BagError``) or the run is interrupted (``KeyboardInterrupt``); both are re-raised.
    """
    if not isinstance(options, ReplayOptions):
        raise TypeError(f"replay() takes ReplayOptions, not {type(options).__name__}; build "
                        "them from parsed arguments with tips_ros.cli.replay.options(args)")
    if engine is not None:
        return _replay(options, engine, load_s, metrics, progress)
    started = time.perf_counter()
    engine = engine_for(options.run)
    try:
        return _replay(options, engine, time.perf_counter() - started, metrics, progress)
    finally:
        engine.close()


def _replay(options: ReplayOptions, engine: Engine, load_s: float,
            metrics: MetricsAccumulator | None,
            progress: FrameProgress | None) -> dict[str, Any]:
    run = options.run
    started = time.perf_counter()
    state, topics, scorer = ReplayState(), None, None
    try:
        with open_bag(options.bag) as reader:
            topics = resolve_topics(reader, run)
            engine.set_queries(run.queries, run.prompt_templates)
            for name, value in per_run_settings(run).items():  # a reused engine takes this run's
                setattr(engine.config, name, value)
            if metrics is None:
                metrics = MetricsAccumulator(median_scaling=run.median_scaling,
                                             num_classes=len(engine.class_names))
            scorer = Scorer(list(topics.gt), metrics)
            total = expected_frames(reader, topics.image, run)
            with BagWriter(options.output, storage=run.storage) as bag:
                missing = register_vision_msgs(bag.typestore)
                if missing:
                    print(f"replay: {missing}: no label_info, detections or detections_3d "
                          "in the output bag", file=sys.stderr)
                written = topics_for(run.selected_heads(), bool(topics.camera_info),
                                     OutputBag.KINDS_WITHOUT_VISION if missing else None)
                out = OutputBag(bag, run.prefix, written, engine.class_names, engine.queries,
                                run.detection_threshold)
                replayer = Replayer(run, engine, topics, out, scorer, total, progress,
                                    pace=options.pace)
                state = replayer.state
                replayer.run(reader)
    except KeyboardInterrupt:
        state.interrupted = True
        raise
    except Exception as err:
        state.error = str(err)
        raise
    finally:
        report = build_report(options, engine, topics, state, scorer,
                              load_s, time.perf_counter() - started)
        if options.report:
            write_json(options.report, report)
    if options.preview and state.preview:
        from tips_ros.offline.preview import RANDOM_WEIGHTS_NOTE, render_preview

        note = RANDOM_WEIGHTS_NOTE if report["weights"] == "random" else None
        options.preview.parent.mkdir(parents=True, exist_ok=True)
        render_preview(state.preview, engine.class_names, options.preview, note=note)
    return report


def engine_settings(run: RunOptions) -> dict[str, Any]:
    """Return the EngineConfig fields of ``run``: every parameter spec marked ``engine``.

    What :meth:`~tips_ros.engine.config.EngineConfig.from_params` takes from the node's
    parameters, taken from the same-named fields of ``run``.
    """
    parameters = run.parameters()
    return {spec.name: engine_value(spec.name, parameters[spec.name])
            for spec in SPECS if spec.engine}


def per_run_settings(run: RunOptions) -> dict[str, Any]:
    """Return the settings of ``run`` that a loaded engine takes for one replay.

    The output size and the runtime engine parameters (those the node changes on a running
    engine: heatmap mode and temperature, zero-shot threshold and templates, PCA momentum).
    """
    return {name: value for name, value in engine_settings(run).items()
            if name == "output_size" or SPEC_BY_NAME[name].runtime}


def engine_for(run: RunOptions) -> Engine:
    """Load the engine ``run`` asks for (:func:`tips_ros.engine.engine.load_engine`).

    Raises ``ModelLoadError``, or ``UsageError`` when an ONNX file lacks a head that ``run``
    needs.
    """
    from tips_ros.engine import EngineConfig
    from tips_ros.engine.engine import load_engine

    return load_engine(EngineConfig(**engine_settings(run)), run.selected_heads(),
                       user="this replay")


def expected_frames(reader: Any, image_topic: str, run: RunOptions) -> int:
    """Return how many input frames a replay of ``reader`` selects (``every``, ``max_frames``)."""
    count = math.ceil(reader.topics[image_topic].msgcount / run.every)
    return min(count, run.max_frames) if run.max_frames else count


def check_inputs(options: ReplayOptions) -> Topics:
    """Fail fast, before the model loads: unwritable outputs, missing, bad or empty topics.

    Returns the resolved input topics.
    """
    if options.output.exists() or options.output.is_symlink():
        raise FileExistsError(f"Output bag {options.output} exists already; choose a new path.")
    check_folder_writable(options.output.parent, "--output")
    for flag, path in (("--report", options.report), ("--preview", options.preview)):
        if path is not None:
            check_writable(path, flag)
    with open_bag(options.bag) as reader:
        return resolve_topics(reader, options.run)
