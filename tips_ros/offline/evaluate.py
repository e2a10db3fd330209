# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros evaluate``: replay many bags on Ray workers and report them as one dataset.

Inputs are bags and folders searched recursively for bags (a rosbag2 directory: one with a
``metadata.yaml``; sqlite3 or mcap). Each Ray actor loads the engine once and replays bag
after bag with ``tips_ros.offline.replay.replay`` (see ``tips_ros.offline.jobs``); per input
bag, ``OUT/<name>/output`` (the output bag) and ``OUT/<name>/report.json`` (its replay report)
are written, where ``<name>`` is the bag's path below the parent of the input it was found in.
``OUT/report.json`` aggregates them exactly (``tips_ros.offline.aggregate``) and
``OUT/summary.png`` pictures them.

Without ``ray`` installed the bags run one after the other in this process. A bag that
cannot be read fails with its reason and the others go on; when a worker process dies, Ray
restarts it and retries its bag once; Ctrl-C writes the aggregate of the bags finished so
far. A rerun skips bags whose report says they finished.

The API is ``evaluate(EvaluateOptions(...))`` (``tips_ros.offline.options``); the command is
``tips_ros.cli.evaluate``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from tips_ros import __version__
from tips_ros.errors import USER_ERRORS, UsageError
from tips_ros.offline.aggregate import aggregate, BagResult, merged_metrics, render_summary
from tips_ros.offline.arguments import check_folder_writable
from tips_ros.offline.bags import open_bag
from tips_ros.offline.inputs import resolve_topics
from tips_ros.offline.jobs import (
    BagBar,
    clear_folder,
    Job,
    OUTPUT_BAG,
    read_report,
    REPORT,
    run_job,
    Runner,
    SUMMARY,
    unfinished,
)
from tips_ros.offline.options import EvaluateOptions, RunOptions
from tips_ros.offline.replay import engine_for, expected_frames
from tips_ros.offline.report import write_json


# ----------------------------------------------------------------------------- planning
def find_bags(inputs: Iterable[str | Path], exclude: Path) -> list[tuple[Path, str]]:
    """Return ``(bag directory, name)`` of every bag in ``inputs``, in order, once each.

    A name is the bag's path relative to the parent of the input it was found in; bags under
    ``exclude`` (the output folder) are left out. Symbolic links to bags and folders are
    followed (a link loop is walked once). Raises ``UsageError`` for a missing input or one
    holding no bag.
    """
    found: dict[Path, str] = {}
    for text in inputs:
        path = Path(text)
        if not path.exists():
            raise UsageError(f"Input {text} does not exist.")
        if path.is_file():
            path = path.parent  # a bag's .mcap / .db3 file
        root = path.resolve().parent
        bags = [p for p in _bag_dirs(path.resolve()) if not p.resolve().is_relative_to(exclude)]
        if not bags:
            raise UsageError(f"Input {text} is not a rosbag2 directory and holds none.")
        for bag in bags:  # symlinked bags are followed; one bag reached twice runs once
            found.setdefault(bag.resolve(), bag.relative_to(root).as_posix())
    return _unique_names(found)


def _bag_dirs(path: Path) -> Iterator[Path]:
    if (path / "metadata.yaml").is_file():
        yield path
        return
    seen: set[tuple[int, int]] = set()  # (device, inode) of the folders walked
    for folder, subfolders, files in os.walk(path, followlinks=True):
        status = os.stat(folder)
        if (status.st_dev, status.st_ino) in seen:  # a symlink loop, or a second link
            subfolders.clear()
            continue
        seen.add((status.st_dev, status.st_ino))
        subfolders.sort()
        if "metadata.yaml" in files:
            subfolders.clear()  # a bag's own folder holds no further bags
            yield Path(folder)


def _unique_names(found: dict[Path, str]) -> list[tuple[Path, str]]:
    taken: set[str] = {REPORT, SUMMARY}
    unique = []
    for bag, name in found.items():
        candidate, index = name, 2
        while candidate in taken:
            candidate, index = f"{name}-{index}", index + 1
        taken.add(candidate)
        unique.append((bag, candidate))
    return unique


def is_complete(folder: Path) -> bool:
    """Tell whether ``folder`` holds a finished run.

    That is: its report ended without error or interruption and has the raw sums, and its
    output bag has metadata (written when the bag is closed).
    """
    report = read_report(folder)
    return bool(report) and not report.get("error") and not report.get("interrupted") \
        and "accumulated" in report and (folder / OUTPUT_BAG / "metadata.yaml").is_file()


def _check_same_options(folder: Path, run: RunOptions) -> None:
    """Raise ``UsageError`` when the finished run in ``folder`` used other scoring options.

    Its results would not belong to this evaluation.
    """
    report = read_report(folder) or {}
    done = {"model": report.get("model"), "text_model": report.get("text_model"),
            "median_scaling": report.get("median_scaling"), "heads": report.get("heads"),
            "every": report.get("input", {}).get("every"),
            "max_frames": report.get("input", {}).get("max_frames")}
    wanted = {"model": run.model, "text_model": run.text_model,
              "median_scaling": run.median_scaling, "heads": sorted(run.selected_heads()),
              "every": run.every, "max_frames": run.max_frames}
    differ = [name for name in wanted if done[name] != wanted[name]]
    if differ:
        raise UsageError(f"{folder} was evaluated with another {', '.join(differ)}; use "
                         "--overwrite or another --output.")


def plan(options: EvaluateOptions) -> tuple[list[Job], list[BagResult]]:
    """Return the jobs to run and the results of bags skipped as complete.

    With ``overwrite`` nothing is skipped.
    """
    out = options.output.resolve()
    jobs, skipped = [], []
    for bag, key in find_bags(options.inputs, out):
        job = Job(bag, key, out)
        if not options.overwrite and is_complete(job.folder):
            _check_same_options(job.folder, options.run)
            skipped.append(BagResult(str(bag), key, "skipped", report=read_report(job.folder)))
            continue
        clear_folder(job.folder)
        jobs.append(job)
    return jobs, skipped


def count_frames(run: RunOptions, jobs: list[Job]) -> int:
    """Return the frames the jobs will select, for the progress bar (unreadable bags: 0)."""
    total = 0
    for job in jobs:
        try:
            with open_bag(job.bag) as reader:
                total += expected_frames(reader, resolve_topics(reader, run).image, run)
        except USER_ERRORS:
            pass  # the worker reports it
    return total


# ----------------------------------------------------------------------------- in-process
class LocalRunner:
    """Runs the bags one after the other in this process (when ``ray`` is not installed)."""

    backend = "in-process"

    def __init__(self, run: RunOptions, jobs: list[Job], bar: BagBar) -> None:
        self.run_options, self.jobs, self.bar = run, jobs, bar
        self.workers = 1 if jobs else 0
        self.results: list[BagResult] = []
        self.processing_wall_s: float | None = None
        self._current: Job | None = None

    def run(self) -> None:
        """Load the model once and replay every job."""
        if not self.jobs:
            return
        load_started = time.perf_counter()
        engine = engine_for(self.run_options)
        started = time.perf_counter()
        try:
            for job in self.jobs:
                self._current = job
                result = run_job(self.run_options, engine, job, started - load_started,
                                 self.bar)
                result.attempts = 1
                self.results.append(result)
                self.bar.bag_done(result)
            self._current = None
        finally:
            self.processing_wall_s = time.perf_counter() - started

    def unfinished(self) -> list[BagResult]:
        """Return results for the jobs not finished (after Ctrl-C)."""
        return unfinished(self.jobs, self.results,
                          {self._current.key} if self._current else set())

    def close(self) -> None:
        """End the progress bar."""
        self.bar.finish()


# ----------------------------------------------------------------------------- the run
def evaluate(options: EvaluateOptions) -> dict[str, Any]:
    """Evaluate: plan, run the bags, write and return the aggregate report.

    Writes ``OUT/<name>/output``, ``OUT/<name>/report.json`` per bag and the aggregate
    ``OUT/report.json`` and ``OUT/summary.png``; a bag that fails is in the report with its
    reason (``report["totals"]["failed"]``). On Ctrl-C the aggregate of what finished is
    written and ``KeyboardInterrupt`` re-raised.
    """
    started = time.perf_counter()
    # workers may run in another directory: absolute paths
    options = replace(options, output=options.output.resolve(), run=_absolute_models(options.run))
    check_folder_writable(options.output, "--output")  # before any model loads
    options.output.mkdir(parents=True, exist_ok=True)
    jobs, skipped = plan(options)
    runner = _runner(options, jobs)
    interrupted = False
    try:
        runner.run()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        runner.close()
    report = _finish(options, skipped + runner.results + runner.unfinished(), runner, started,
                     interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return report


def _absolute_models(run: RunOptions) -> RunOptions:
    """Return ``run`` with local model files as absolute paths (hub ids stay as they are)."""
    return replace(run, model=_absolute_if_local(run.model),
                   text_model=_absolute_if_local(run.text_model),
                   onnx_model=run.onnx_model.resolve() if run.onnx_model else None)


def _absolute_if_local(model: str) -> str:
    """Return a model directory as an absolute path, a hub id as it is."""
    return str(Path(model).resolve()) if model and Path(model).exists() else model


def _runner(options: EvaluateOptions, jobs: list[Job]) -> Runner:
    bar = BagBar(count_frames(options.run, jobs), len(jobs))
    if not jobs:
        return LocalRunner(options.run, jobs, bar)  # nothing to run: no Ray to start
    try:
        from tips_ros.offline.evaluate_ray import RayRunner
    except ImportError as err:
        if err.name != "ray":
            raise
        print(f"tips-ros evaluate: ray is not installed (pip install 'tips_ros[cluster]'), so "
              f"the {len(jobs)} bag(s) run one after the other in this process.",
              file=sys.stderr)
        return LocalRunner(options.run, jobs, bar)
    return RayRunner(options, jobs, bar)


def _finish(options: EvaluateOptions, results: list[BagResult], runner: Runner,
            started: float, interrupted: bool) -> dict[str, Any]:
    found = find_bags(options.inputs, options.output)
    order = {key: index for index, (_, key) in enumerate(found)}
    results.sort(key=lambda r: order.get(r.key, len(order)))
    run_fields = {"backend": runner.backend, "workers": runner.workers,
                  "interrupted": interrupted, "wall_s": time.perf_counter() - started,
                  "output": str(options.output), "command": sys.argv, "tips_ros": __version__}
    report = aggregate(results, runner.processing_wall_s, run_fields)
    out = options.output
    write_json(out / REPORT, report)
    render_summary(report, merged_metrics([r for r in results if r.status in ("ok", "skipped")
                                           and r.report]), out / SUMMARY)
    return report
