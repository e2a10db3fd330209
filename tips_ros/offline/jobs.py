# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""One bag of ``tips-ros evaluate``: its job, its folder of results, its replay.

Shared by the in-process runner (``tips_ros.offline.evaluate``) and the Ray workers
(``tips_ros.offline.evaluate_ray``), so neither imports the other's module at load time.
Per input bag, the folder ``OUTPUT/<key>`` holds ``output`` (the output bag) and
``report.json`` (its replay report).
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TYPE_CHECKING

from tips_ros.engine.faults import FaultInjector
from tips_ros.errors import USER_ERRORS, UsageError, one_sentence
from tips_ros.offline.aggregate import BagResult
from tips_ros.offline.frame_loop import FrameProgress
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.replay import replay

if TYPE_CHECKING:
    from tips_ros.engine import Engine

REPORT = "report.json"
SUMMARY = "summary.png"
#: Name of a bag's output bag inside its folder under ``--output``.
OUTPUT_BAG = "output"
#: Tries of a bag whose worker process dies (Ray task retries); then it is reported failed.
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class Job:
    """One input bag (``bag``), its name ``key`` and the evaluation's folder ``root``."""

    bag: Path
    key: str
    root: Path

    @property
    def folder(self) -> Path:
        """Return the folder of this bag's results, ``root / key``."""
        return self.root / self.key

    def options(self, run: RunOptions) -> ReplayOptions:
        """Return the replay of this bag into its folder (no pacing, no preview)."""
        return ReplayOptions(self.bag, self.folder / OUTPUT_BAG, run,
                             report=self.folder / REPORT)


class Runner(Protocol):
    """Runs the jobs of an evaluation (``LocalRunner``, ``evaluate_ray.RayRunner``)."""

    backend: str
    workers: int
    results: list[BagResult]
    processing_wall_s: float | None

    def run(self) -> None:
        """Run every job, appending to ``results``."""

    def unfinished(self) -> list[BagResult]:
        """Return results for the jobs not finished (after Ctrl-C)."""

    def close(self) -> None:
        """Release the workers and end the progress bar."""


def read_report(folder: Path) -> dict[str, Any] | None:
    """Return the replay report in ``folder``; ``None`` when missing or unreadable."""
    try:
        return json.loads((folder / REPORT).read_text())
    except (OSError, ValueError):
        return None


def clear_folder(folder: Path) -> None:
    """Remove a bag's previous results.

    Refuses (``UsageError``) when ``folder`` holds anything else than an output bag and a
    report, so nothing of the user's is deleted.
    """
    if not folder.exists():
        return
    extra = {p.name for p in folder.iterdir()} - {OUTPUT_BAG, REPORT, REPORT + ".partial"}
    if extra:
        raise UsageError(f"{folder} holds other files ({', '.join(sorted(extra))}); "
                         "choose another --output.")
    shutil.rmtree(folder)


def run_job(run: RunOptions, engine: Engine, job: Job, load_s: float,
            progress: FrameProgress | None = None) -> BagResult:
    """Replay ``job``'s bag with a loaded engine into its folder (cleared first).

    ``load_s`` is the seconds the engine took to load. A bag that cannot be read or scored
    becomes a ``failed`` result with its one-sentence reason; an unexpected error too (its
    traceback goes to stderr). ``KeyboardInterrupt`` propagates after replay closed the
    output bag and wrote the report.
    """
    FaultInjector().before_bag(job.key, job.root)
    clear_folder(job.folder)
    job.folder.mkdir(parents=True)
    try:
        report = replay(job.options(run), engine, load_s=load_s, progress=progress)
    except USER_ERRORS as err:
        return BagResult(str(job.bag), job.key, "failed", one_sentence(err),
                         report=read_report(job.folder))
    except Exception as err:  # a bug: keep going with the other bags, keep the traceback
        traceback.print_exc()
        return BagResult(str(job.bag), job.key, "failed",
                         f"unexpected {type(err).__name__}: {err}",
                         report=read_report(job.folder))
    return BagResult(str(job.bag), job.key, "ok", report=report)


def unfinished(jobs: list[Job], results: list[BagResult], running: set[str]) -> list[BagResult]:
    """Return results for the jobs without one.

    ``interrupted`` for the jobs whose keys are in ``running``, ``not_run`` for the others.
    """
    done = {r.key for r in results}
    return [BagResult(str(job.bag), job.key,
                      "interrupted" if job.key in running else "not_run",
                      "interrupted (Ctrl-C) before it finished; a rerun replays it",
                      report=read_report(job.folder))
            for job in jobs if job.key not in done]


class BagBar:
    """One progress bar on stderr over the frames of all bags.

    Shows ETA, bags done and bags failed (tqdm; silent when stderr is not a terminal). As a
    replay's ``FrameProgress`` it counts that replay's frames.
    """

    def __init__(self, frames: int, bags: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=frames, unit="frame", file=sys.stderr, disable=None,
                         dynamic_ncols=True, desc="evaluate")
        self._bags, self._done, self._failed = bags, 0, 0
        self._show()

    def update(self, frames: int, failed: int) -> None:
        """Count ``frames`` more frames done (``FrameProgress``)."""
        self._bar.update(frames)

    def close(self) -> None:
        """End one replay (``FrameProgress``); the bar goes on."""

    def set_frames(self, frames: int) -> None:
        """Set the frames done over all bags so far."""
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
