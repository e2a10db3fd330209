# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros evaluate``: replay many bags on Ray workers and report them as one dataset.

Inputs are bags and folders searched recursively for bags (a rosbag2 directory: one with a
``metadata.yaml``; sqlite3 or mcap). Each Ray actor loads the engine once and replays bag
after bag with ``tips_ros.offline.replay.replay``; per input bag, ``OUT/<name>/output`` (the output
bag) and ``OUT/<name>/report.json`` (its replay report) are written, where ``<name>`` is the
bag's path below the parent of the input it was found in. ``OUT/report.json`` aggregates
them exactly (``tips_ros.offline.aggregate``) and ``OUT/summary.png`` pictures them.

Without ``ray`` installed the bags run one after the other in this process. A bag that
cannot be read fails with its reason and the others go on; when a worker process dies, Ray
restarts it and retries its bag once; Ctrl-C writes the aggregate of the bags finished so
far. A rerun skips bags whose report says they finished.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tips_ros import __version__
from tips_ros.offline.aggregate import (
    BagResult,
    aggregate,
    format_summary,
    merged_metrics,
    render_summary,
    write_json,
)
from tips_ros.offline.bags import open_bag
from tips_ros.errors import USER_ERRORS, UsageError
from tips_ros.engine.faults import FaultInjector
from tips_ros.offline.replay import (
    add_run_options,
    expected_frames,
    load_engine,
    replay,
    resolve_topics,
    select_heads,
)

REPORT = "report.json"
SUMMARY = "summary.png"
#: Name of a bag's output bag inside its folder under ``--output``.
OUTPUT_BAG = "output"
#: Tries of a bag whose worker process dies (Ray task retries); then it is reported failed.
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class Job:
    """One input bag and the folder its results go to."""

    bag: str
    key: str
    folder: str


# ----------------------------------------------------------------------------- planning
def find_bags(inputs: list[str], exclude: Path) -> list[tuple[Path, str]]:
    """``(bag directory, name)`` of every bag in ``inputs``, in order, without duplicates.

    A name is the bag's path relative to the parent of the input it was found in; bags under
    ``exclude`` (the output folder) are left out. Raises ``UsageError`` for a missing input or
    one holding no bag.
    """
    found: dict[Path, str] = {}
    for text in inputs:
        path = Path(text)
        if not path.exists():
            raise UsageError(f"Input {text} does not exist.")
        if path.is_file():
            path = path.parent  # a bag's .mcap / .db3 file
        root = path.resolve().parent
        bags = [p for p in _bag_dirs(path.resolve()) if not p.is_relative_to(exclude)]
        if not bags:
            raise UsageError(f"Input {text} is not a rosbag2 directory and holds none.")
        for bag in bags:
            found.setdefault(bag, bag.relative_to(root).as_posix())
    return _unique_names(found)


def _bag_dirs(path: Path) -> Iterator[Path]:
    if (path / "metadata.yaml").is_file():
        yield path
        return
    for folder, subfolders, files in os.walk(path):
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
    """Whether ``folder`` holds a finished run: its report ended without error or interruption
    and has the raw sums, and its output bag has metadata (written when the bag is closed)."""
    report = _read_report(folder)
    return bool(report) and not report.get("error") and not report.get("interrupted") \
        and "accumulated" in report and (folder / OUTPUT_BAG / "metadata.yaml").is_file()


def _check_same_options(folder: Path, args: argparse.Namespace) -> None:
    """Raise ``UsageError`` when the finished run in ``folder`` used other scoring options
    than ``args`` (its results would not belong to this evaluation)."""
    report = _read_report(folder) or {}
    done = {"model": report.get("model"), "text_model": report.get("text_model"),
            "median_scaling": report.get("median_scaling"), "heads": report.get("heads"),
            "every": report.get("input", {}).get("every"),
            "max_frames": report.get("input", {}).get("max_frames")}
    wanted = {"model": args.model, "text_model": args.text_model,
              "median_scaling": args.median_scaling, "heads": sorted(select_heads(args)),
              "every": args.every, "max_frames": args.max_frames}
    differ = [name for name in wanted if done[name] != wanted[name]]
    if differ:
        raise UsageError(f"{folder} was evaluated with another {', '.join(differ)}; use "
                         "--overwrite or another --output.")


def _read_report(folder: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads((folder / REPORT).read_text())
    except (OSError, ValueError):
        return None


def clear_folder(folder: Path) -> None:
    """Remove a bag's previous results; refuses (``UsageError``) when ``folder`` holds
    anything else than an output bag and a report, so nothing of the user's is deleted."""
    if not folder.exists():
        return
    extra = {p.name for p in folder.iterdir()} - {OUTPUT_BAG, REPORT, REPORT + ".partial"}
    if extra:
        raise UsageError(f"{folder} holds other files ({', '.join(sorted(extra))}); "
                         "choose another --output.")
    shutil.rmtree(folder)


# ----------------------------------------------------------------------------- one bag
def run_job(args: argparse.Namespace, engine: Any, job: Job, load_s: float,
            progress: Any = None) -> BagResult:
    """Replay ``job``'s bag with a loaded engine into its folder (cleared first).

    A bag that cannot be read or scored becomes a ``failed`` result with its one-sentence
    reason; an unexpected error too (its traceback goes to stderr). ``KeyboardInterrupt``
    propagates after replay closed the output bag and wrote the report.
    """
    folder = Path(job.folder)
    FaultInjector().before_bag(job.key, Path(args.output))
    clear_folder(folder)
    folder.mkdir(parents=True)
    bag_args = argparse.Namespace(**{**vars(args), "bag": job.bag, "pace": False,
                                     "output": str(folder / OUTPUT_BAG), "preview": None,
                                     "report": str(folder / REPORT)})
    try:
        report = replay(bag_args, engine, load_s, progress=progress)
    except USER_ERRORS as err:
        return BagResult(job.bag, job.key, "failed", str(err), report=_read_report(folder))
    except Exception as err:  # a bug: keep going with the other bags, keep the traceback
        traceback.print_exc()
        return BagResult(job.bag, job.key, "failed", f"unexpected {type(err).__name__}: {err}",
                         report=_read_report(folder))
    return BagResult(job.bag, job.key, "ok", report=report)


# ----------------------------------------------------------------------------- runners
class BagBar:
    """One progress bar on stderr over the frames of all bags, with ETA, bags done and bags
    failed (tqdm; silent when stderr is not a terminal). As a replay's ``FrameProgress`` it
    counts that replay's frames."""

    def __init__(self, frames: int, bags: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=frames, unit="frame", file=sys.stderr, disable=None,
                         dynamic_ncols=True, desc="evaluate")
        self._bags, self._done, self._failed = bags, 0, 0
        self._show()

    def update(self, frames: int, failed: int) -> None:
        """``frames`` more frames done (``FrameProgress``)."""
        self._bar.update(frames)

    def close(self) -> None:
        """One replay is done (``FrameProgress``); the bar goes on."""

    def set_frames(self, frames: int) -> None:
        """Frames done over all bags so far."""
        if frames != self._bar.n:
            self._bar.n = frames
            self._bar.refresh()

    def bag_done(self, result: BagResult) -> None:
        """Count a finished bag."""
        self._done += 1
        self._failed += result.status == "failed"
        self._show()

    def finish(self) -> None:
        """End the bar line."""
        self._bar.close()

    def _show(self) -> None:
        self._bar.set_postfix_str(f"bags {self._done}/{self._bags}, failed {self._failed}")


class LocalRunner:
    """Runs the bags one after the other in this process (when ``ray`` is not installed)."""

    backend = "in-process"

    def __init__(self, args: argparse.Namespace, jobs: list[Job], bar: BagBar) -> None:
        self.args, self.jobs, self.bar = args, jobs, bar
        self.workers = 1 if jobs else 0
        self.results: list[BagResult] = []
        self.processing_wall_s: float | None = None
        self._current: Job | None = None

    def run(self) -> None:
        """Load the model once and replay every job."""
        if not self.jobs:
            return
        load_started = time.perf_counter()
        engine = load_engine(self.args)
        started = time.perf_counter()
        try:
            for job in self.jobs:
                self._current = job
                result = run_job(self.args, engine, job, started - load_started, self.bar)
                result.attempts = 1
                self.results.append(result)
                self.bar.bag_done(result)
            self._current = None
        finally:
            self.processing_wall_s = time.perf_counter() - started

    def unfinished(self) -> list[BagResult]:
        """Results of the jobs not finished (after Ctrl-C)."""
        return unfinished(self.jobs, self.results,
                          {self._current.key} if self._current else set())

    def close(self) -> None:
        """End the progress bar."""
        self.bar.finish()


def unfinished(jobs: list[Job], results: list[BagResult], running: set[str]) -> list[BagResult]:
    """``interrupted`` results for the jobs in ``running``, ``not_run`` for the other jobs
    without a result."""
    done = {r.key for r in results}
    return [BagResult(job.bag, job.key, "interrupted" if job.key in running else "not_run",
                      "interrupted (Ctrl-C) before it finished; a rerun replays it",
                      report=_read_report(Path(job.folder)))
            for job in jobs if job.key not in done]


# ----------------------------------------------------------------------------- the command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tips-ros evaluate``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="rosbag2 directories and/or folders searched for them")
    parser.add_argument("--output", required=True,
                        help="results folder: <bag name>/output, <bag name>/report.json, "
                        f"{REPORT}, {SUMMARY}")
    add_run_options(parser)
    parser.add_argument("--workers", type=_positive, default=None,
                        help="Ray workers, each loading the model once (default: one per "
                        "--gpus-per-worker GPUs of the cluster, or 1 without GPUs)")
    parser.add_argument("--gpus-per-worker", type=_non_negative, default=None,
                        help="GPUs per worker, may be fractional (default 1 when the cluster "
                        "has GPUs, else 0)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join ('auto', host:port or ray://host:port); "
                        "default: a local Ray started for this run")
    parser.add_argument("--cpus-per-worker", type=_positive, default=1,
                        help="CPU cores per worker (its torch threads; default 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replay also the bags finished by an earlier run")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number >= 0")
    return value


def plan(args: argparse.Namespace) -> tuple[list[Job], list[BagResult]]:
    """The jobs to run and the results of bags skipped as complete (``--overwrite``: none)."""
    out = Path(args.output).resolve()
    jobs, skipped = [], []
    for bag, key in find_bags(args.inputs, out):
        folder = out / key
        if not args.overwrite and is_complete(folder):
            _check_same_options(folder, args)
            skipped.append(BagResult(str(bag), key, "skipped", report=_read_report(folder)))
            continue
        clear_folder(folder)
        jobs.append(Job(str(bag), key, str(folder)))
    return jobs, skipped


def count_frames(args: argparse.Namespace, jobs: list[Job]) -> int:
    """Frames the jobs will select, for the progress bar (unreadable bags count 0)."""
    total = 0
    for job in jobs:
        try:
            with open_bag(job.bag) as reader:
                total += expected_frames(reader, resolve_topics(reader, args).image, args)
        except USER_ERRORS:
            pass  # the worker reports it
    return total


def run(args: argparse.Namespace) -> int:
    """``tips-ros evaluate``: plan, run the bags, write and print the aggregate.

    Exit code 0 when every bag finished, 1 when one failed (the others are still reported);
    on Ctrl-C the aggregate of what finished is written and ``KeyboardInterrupt`` re-raised.
    """
    started = time.perf_counter()
    select_heads(args)  # bad --heads / --queries fail before anything starts
    args.output = str(Path(args.output).resolve())  # workers may run in another directory
    for name in ("model", "text_model", "onnx_model"):  # local files, not hub ids
        value = getattr(args, name, None)
        if value and Path(value).exists():
            setattr(args, name, str(Path(value).resolve()))
    Path(args.output).mkdir(parents=True, exist_ok=True)
    jobs, skipped = plan(args)
    runner = _runner(args, jobs)
    interrupted = False
    try:
        runner.run()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        runner.close()
    code = _finish(args, skipped + runner.results + runner.unfinished(), runner, started,
                   interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return code


def _runner(args: argparse.Namespace, jobs: list[Job]) -> Any:
    bar = BagBar(count_frames(args, jobs), len(jobs))
    if not jobs:
        return LocalRunner(args, jobs, bar)  # nothing to run: no Ray to start
    try:
        from tips_ros.offline.evaluate_ray import RayRunner
    except ImportError as err:
        if err.name != "ray":
            raise
        print(f"tips-ros evaluate: ray is not installed (pip install 'tips_ros[cluster]'), so "
              f"the {len(jobs)} bag(s) run one after the other in this process.",
              file=sys.stderr)
        return LocalRunner(args, jobs, bar)
    return RayRunner(args, jobs, bar)


def _finish(args: argparse.Namespace, results: list[BagResult], runner: Any, started: float,
            interrupted: bool) -> int:
    order = {key: index for index, (_, key) in enumerate(find_bags(args.inputs,
                                                                    Path(args.output)))}
    results.sort(key=lambda r: order.get(r.key, len(order)))
    run_fields = {"backend": runner.backend, "workers": runner.workers,
                  "interrupted": interrupted, "wall_s": time.perf_counter() - started,
                  "output": str(args.output), "command": sys.argv, "tips_ros": __version__}
    report = aggregate(results, runner.processing_wall_s, run_fields)
    out = Path(args.output)
    write_json(out / REPORT, report)
    render_summary(report, merged_metrics([r for r in results if r.status in ("ok", "skipped")
                                           and r.report]), out / SUMMARY)
    print(format_summary(report))
    print(f"report: {out / REPORT}\nsummary: {out / SUMMARY}")
    return 1 if report["totals"]["failed"] else 0
