# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The frame loop of a replay: read -> decode -> batch -> engine -> output bag and scorer.

``Replayer`` walks the bag's messages in log-time order, selects image frames (``every``,
``max_frames``), decodes them, runs the engine on batches and hands each prediction to two
background lanes (:mod:`tips_ros.offline.lanes`): the ``write`` lane encodes the output
messages and writes them to the output bag, the ``score`` lane adds its metric sums. Both run
beside the loop, so their CPU work overlaps the engine's next batch; each keeps the bag's
order. A frame's ground truth read before its batch runs (the batch is run one image late,
so ground truth logged with its image is there) is scored on the engine's device with the
outputs (:mod:`tips_ros.offline.device_metrics`); ground truth that comes later is matched
and scored on the host by the ``score`` lane (:class:`~tips_ros.offline.scoring.Scorer`).
``ReplayState`` is what it did (what the report is made of). A device out of memory drops
the frames of that engine call (counted as failed, ``out_of_memory``) and halves the batch,
as the node does; the replay goes on.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TYPE_CHECKING

import numpy as np

from tips_ros.engine.prediction import BatchLimit, Prediction
from tips_ros.io.imaging import decode_compressed, decode_image, ImageDecodeError
from tips_ros.offline.bags import BagError, BagWriteError, iter_messages
from tips_ros.offline.inputs import COMPRESSED_TYPE, ground_truth, Topics
from tips_ros.offline.lanes import Lane
from tips_ros.offline.options import RunOptions
from tips_ros.offline.output_bag import Frame, OutputBag
from tips_ros.offline.scoring import Scorer

if TYPE_CHECKING:
    from tips_ros.engine import Engine

#: Frames shown in ``--preview``.
PREVIEW_ROWS = 3
#: ``failures`` reason of the frames of an engine call that ran out of device memory.
OUT_OF_MEMORY = "out_of_memory"


class FrameProgress(Protocol):
    """Where a replay reports its frames (``Progress``, or ``tips-ros evaluate``'s own bar)."""

    def update(self, frames: int, failed: int) -> None:
        """Count ``frames`` more frames done; ``failed`` frames of this bag so far."""

    def close(self) -> None:
        """End the bag's progress."""


class Progress:
    """Frame counter on stderr with fps and ETA (tqdm; silent when stderr is not a terminal)."""

    def __init__(self, total: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="frame", file=sys.stderr, disable=None,
                         dynamic_ncols=True, desc="replay")

    def update(self, frames: int, failed: int) -> None:
        """Count ``frames`` more frames done; show the failures so far."""
        self._bar.set_postfix(failed=failed, refresh=False)
        self._bar.update(frames)

    def close(self) -> None:
        """Finish the bar line."""
        self._bar.close()


#: The stages of a replay, in the order a frame meets them (``StageTimes``): the loop's
#: (:data:`LOOP_STAGES`) and its lanes' (:data:`LANE_STAGES`).
STAGES: tuple[str, ...] = ("read", "decode", "engine", "wait", "metrics", "encode", "write",
                           "other")
#: Lane -> the stages it runs (in the lane's thread, beside the loop).
LANE_STAGES: dict[str, tuple[str, ...]] = {"write": ("encode", "write"), "score": ("metrics",)}
#: The stages in the loop's own thread: ``wait`` is the loop waiting for a lane that fell
#: behind (or for the scorer at ``max_frames``), ``other`` the rest (batching, progress).
LOOP_STAGES: tuple[str, ...] = tuple(
    stage for stage in STAGES if all(stage not in lane for lane in LANE_STAGES.values()))


@dataclass
class StageTimes:
    """Seconds spent in each stage of one thread (:data:`STAGES`), summed over frames.

    ``wall`` is wall-clock time; ``cpu`` is the CPU time of the timing thread (what a
    stage costs on a loaded machine, but without the engine's other threads). ``read``: the
    bag reader yielding messages (rosbags' decoding of the CDR included); ``decode``: input
    images and ground truth to arrays; ``engine``: ``Engine.infer``; ``wait``: the loop
    waiting for a lane; ``metrics``: matching and scoring; ``encode``: the output messages'
    bytes; ``write``: handing them to the bag; ``other``: the loop's time in none of these.
    """

    wall: Counter[str] = field(default_factory=Counter)
    cpu: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Count the time of the ``with`` block in ``stage``."""
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.wall[stage] += time.perf_counter() - wall
            self.cpu[stage] += time.thread_time() - cpu

    @contextmanager
    def loop(self) -> Iterator[None]:
        """Count the time of the ``with`` block (the whole loop) not in a stage as ``other``."""
        with self("other"):
            named = sum(self.wall.values()), sum(self.cpu.values())
            try:
                yield
            finally:
                self.wall["other"] -= sum(self.wall.values()) - named[0]
                self.cpu["other"] -= sum(self.cpu.values()) - named[1]


@dataclass
class ReplayState:
    """What a replay has done so far (what the report is made of); times in seconds/ms."""

    frames_in: int = 0
    frames_out: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    gt_failures: Counter[str] = field(default_factory=Counter)
    camera_info_rejected: Counter[str] = field(default_factory=Counter)  # by reason, per change
    #: per written frame: from its engine call's start until its messages were written
    latencies_ms: list[float] = field(default_factory=list)
    #: the loop's time in engine calls and hand-offs, plus the lanes' drain at the end
    processing_s: float = 0.0
    #: the loop thread's stages, and each lane's (:data:`LANE_STAGES`)
    stages: StageTimes = field(default_factory=StageTimes)
    lane_stages: dict[str, StageTimes] = field(
        default_factory=lambda: {lane: StageTimes() for lane in LANE_STAGES})
    #: frames per engine call: ``--batch``, halved by each device out-of-memory
    batch: BatchLimit = field(default_factory=lambda: BatchLimit(1))
    preview: list[tuple[np.ndarray, Prediction]] = field(default_factory=list)
    interrupted: bool = False
    error: str | None = None


class Replayer:
    """Run one replay: read -> decode -> batch -> engine -> write and score lanes."""

    def __init__(self, run: RunOptions, engine: Engine, topics: Topics, out: OutputBag,
                 scorer: Scorer, total: int, progress: FrameProgress | None = None,
                 pace: bool = False) -> None:
        self.run_options, self.engine, self.topics = run, engine, topics
        self.heads = run.selected_heads()
        self.out, self.scorer, self.total = out, scorer, total
        self.state = ReplayState(camera_info_rejected=out.camera_info_rejected,
                                 batch=BatchLimit(run.batch))
        self._batch: list[Frame] = []
        self._progress = progress or Progress(total)
        self._preview_every = max(1, math.ceil(total / PREVIEW_ROWS)) if total else 1
        self._pacer = Pacer() if pace else None
        self._lanes: dict[str, Lane] = {}
        self._handed = 0  # frames handed to the lanes so far
        #: ground truth (stamp -> task -> array) read before its frame's batch ran
        self._gt: dict[int, dict[str, np.ndarray]] = {}
        self._last_run: int | None = None  # the newest stamp of a batch the engine ran

    def run(self, reader: Any) -> None:
        """Process the bag; the last batch is flushed also when the bag is damaged.

        The lanes finish the frames handed to them before this returns or raises (Ctrl-C
        included), so the output bag holds every frame the engine finished.
        """
        # two batches in flight: per frame the write lane gets one job (and camera infos),
        # the score lane one per ground truth, the prediction and a clean-up
        frames = 2 * self.run_options.batch
        depth = {"write": 2 * frames, "score": (len(self.topics.gt) + 2) * frames}
        # a sqlite3 connection serves only the thread that made it: that bag is written inline
        self._lanes = {name: Lane(f"replay-{name}", depth[name], inline=name == "write"
                                  and self.run_options.storage == "sqlite3")
                       for name in LANE_STAGES}
        with self.state.stages.loop():
            try:
                self._read(reader)
            except BagWriteError:  # the output bag is full: nothing more can be written
                raise
            except BagError:
                self._finish()  # the frames read before the damage are still good
                raise
            else:
                self._finish()
            finally:
                self._close_lanes()
                self._progress.close()

    def _finish(self) -> None:
        """Run the last batch; hand the ground truth still held to the host scorer."""
        self._flush()
        self._gt_to_host()

    def _close_lanes(self) -> None:
        """Let the lanes finish; raise the first lane error unless one is propagating."""
        start, errors = time.perf_counter(), []
        with self.state.stages("wait"):
            for lane in self._lanes.values():
                try:
                    lane.close()
                except Exception as err:  # a full disk while draining: the bag stays valid
                    errors.append(err)
        self.state.processing_s += time.perf_counter() - start
        if errors and sys.exc_info()[1] is None:
            raise errors[0]

    def _read(self, reader: Any) -> None:
        limit_stamp: int | None = None  # stamp of the last selected frame once the limit is hit
        seen = 0
        for topic, msgtype, stamp, msg in self._messages(reader):
            if limit_stamp is not None and (stamp > limit_stamp or not self._pending()):
                break
            if topic == self.topics.image:
                if limit_stamp is not None:
                    continue
                seen += 1
                if (seen - 1) % self.run_options.every:
                    continue
                if self._pacer:
                    self._pacer.wait(stamp)
                self._add_frame(msgtype, stamp, msg)
                limit = self.run_options.max_frames
                if limit and self.state.frames_in >= limit:
                    limit_stamp = stamp
                    self._flush()
            elif topic == self.topics.camera_info:
                self._put("write", lambda msg=msg: self.out.calibration.update(msg))
            else:
                self._add_gt(topic, stamp, msg)

    def _pending(self) -> int:
        """Count the predictions waiting for ground truth, once the score lane is idle."""
        self._gt_to_host()
        with self.state.stages("wait"):
            self._lanes["score"].join()
        return self.scorer.pending

    def _put(self, lane: str, job: Any) -> None:
        """Hand ``job`` to ``lane`` (waiting while it is full counts as stage ``wait``).

        An inline lane's job runs here: its time is the loop's ``other`` (and the lane's).
        """
        if self._lanes[lane].inline:
            self._lanes[lane].put(job)
            return
        with self.state.stages("wait"):
            self._lanes[lane].put(job)

    def _messages(self, reader: Any) -> Iterator[tuple[str, str, int, Any]]:
        """Yield the bag's messages of the input topics; the waits count as stage ``read``."""
        messages = iter_messages(reader, self.topics.names())
        while True:
            with self.state.stages("read"):
                item = next(messages, None)
            if item is None:
                return
            yield item

    def _add_frame(self, msgtype: str, stamp: int, msg: Any) -> None:
        self.state.frames_in += 1
        if len(self._batch) >= self.state.batch.batch_limit:
            self._flush()  # flushed one image late, so same-stamp camera info and GT are read
        try:
            with self.state.stages("decode"):
                rgb = decode_compressed(msg) if msgtype == COMPRESSED_TYPE else decode_image(msg)
        except ImageDecodeError as err:
            self.state.failures[err.reason] += 1
            self._progress.update(1, sum(self.state.failures.values()))
            return
        self._batch.append(Frame(stamp, msg.header.frame_id, rgb))

    def _add_gt(self, topic: str, stamp: int, msg: Any) -> None:
        task = next(t for t, name in self.topics.gt.items() if name == topic)
        try:
            with self.state.stages("decode"):
                array = ground_truth(task, msg)
        except ImageDecodeError as err:
            self.state.gt_failures[err.reason] += 1
            return
        if self._last_run is not None and stamp <= self._last_run:  # its frame ran already
            self._put("score", lambda: self._score(lambda: self.scorer.add_gt(task, stamp, array)))
        else:
            self._gt.setdefault(stamp, {})[task] = array

    def _gt_to_host(self, until: int | None = None) -> None:
        """Hand the ground truth held for stamps up to ``until`` (None: all) to the host scorer.

        That is ground truth of frames that ran without it, or were skipped or failed (the
        scorer drops those).
        """
        for stamp in [s for s in self._gt if until is None or s <= until]:
            for task, array in self._gt.pop(stamp).items():
                self._put("score", lambda t=task, s=stamp, a=array: self._score(
                    lambda: self.scorer.add_gt(t, s, a)))

    def _flush(self) -> None:
        if not self._batch:
            return
        from tips_ros.offline.device_metrics import frame_reduction  # torch: not for --help

        batch, self._batch = self._batch, []
        start = time.perf_counter()
        truths = [self._gt.pop(frame.stamp_ns, {}) for frame in batch]
        metrics = self.scorer.metrics
        reductions = [frame_reduction(truth, metrics.median_scaling, metrics.num_classes,
                                      metrics.ignore_index) if truth else None
                      for truth in truths]
        with self.state.stages("engine"):
            predictions = self.engine.infer_within(self.state.batch, [f.rgb for f in batch],
                                                   self.heads, reductions)
        self._last_run = max([frame.stamp_ns for frame in batch] + [self._last_run or 0])
        if predictions is None:  # device out of memory: these frames dropped, batch halved
            self.state.failures[OUT_OF_MEMORY] += len(batch)
            self._progress.update(len(batch), sum(self.state.failures.values()))
            self._gt_to_host(self._last_run)
            return
        for frame, pred, truth in zip(batch, predictions, truths):
            self._put("write", lambda f=frame, p=pred: self._write(f, p, start))
            on_host = [task for task in self.scorer.tasks if task not in truth]
            self._put("score", lambda f=frame, p=pred, tasks=on_host: self._score(
                lambda: self._add_scores(f.stamp_ns, p, tasks)))
            self._keep_for_preview(frame, pred)
            self._handed += 1
        self._gt_to_host(self._last_run)
        first = batch[0].stamp_ns
        self._put("score", lambda: self.scorer.drop_gt_before(first))
        self.state.processing_s += time.perf_counter() - start
        self._progress.update(len(batch), sum(self.state.failures.values()))

    def _add_scores(self, stamp_ns: int, pred: Prediction, on_host: list[str]) -> None:
        """Add a frame's device sums; hold its outputs of ``on_host`` tasks for the host scorer."""
        self.scorer.add_sums(pred.reductions)
        if on_host:
            self.scorer.add_prediction(stamp_ns, pred, on_host)

    def _write(self, frame: Frame, pred: Prediction, start: float) -> None:
        """Encode and write one frame's outputs (write lane); ``start``: its engine call's."""
        stages = self.state.lane_stages["write"]
        with stages("encode"):
            messages = self.out.messages(frame, pred)
        with stages("write"):
            self.out.write(messages)  # BagWriteError (a full disk): raised in the loop
        self.state.frames_out += 1
        self.state.latencies_ms.append((time.perf_counter() - start) * 1000.0)

    def _score(self, job: Any) -> None:
        """Run one scorer call ``job`` (score lane), timed as stage ``metrics``."""
        with self.state.lane_stages["score"]("metrics"):
            job()

    def _keep_for_preview(self, frame: Frame, pred: Prediction) -> None:
        if self._handed % self._preview_every == 0 and len(self.state.preview) < PREVIEW_ROWS:
            self.state.preview.append((frame.rgb, pred))


class Pacer:
    """Sleep so frames are released at their recorded rate (header stamps, wall clock)."""

    def __init__(self) -> None:
        self._origin: tuple[int, float] | None = None

    def wait(self, stamp_ns: int) -> None:
        """Sleep until the frame stamped ``stamp_ns`` (nanoseconds) is due."""
        if self._origin is None:
            self._origin = (stamp_ns, time.monotonic())
        due = self._origin[1] + (stamp_ns - self._origin[0]) / 1e9
        time.sleep(max(0.0, due - time.monotonic()))
