# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The frame loop of a replay: read -> decode -> batch -> engine -> output bag and scorer.

``Replayer`` walks the bag's messages in log-time order, selects image frames (``every``,
``max_frames``), decodes them, runs the engine on batches and hands each prediction to the
output bag and the scorer; ``ReplayState`` is what it did (what the report is made of). A
device out of memory drops the frames of that engine call (counted as failed,
``out_of_memory``) and halves the batch, as the node does; the replay goes on.
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


#: The stages of a replay's frame loop, in the order a frame meets them (``StageTimes``);
#: ``other`` is the rest of the loop (batching, progress, preview).
STAGES: tuple[str, ...] = ("read", "decode", "engine", "metrics", "encode", "write", "other")


@dataclass
class StageTimes:
    """Seconds spent in each stage of the frame loop (:data:`STAGES`), summed over frames.

    ``wall`` is wall-clock time; ``cpu`` is the CPU time of the loop's own thread (what a
    stage costs on a loaded machine, but without the engine's other threads). ``read``: the
    bag reader yielding messages (rosbags' decoding of the CDR included); ``decode``: input
    images and ground truth to arrays; ``engine``: ``Engine.infer``; ``metrics``: matching
    and scoring; ``encode``: the output messages' bytes; ``write``: handing them to the bag;
    ``other``: the loop's time in none of these.
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
    latencies_ms: list[float] = field(default_factory=list)
    processing_s: float = 0.0
    stages: StageTimes = field(default_factory=StageTimes)
    #: frames per engine call: ``--batch``, halved by each device out-of-memory
    batch: BatchLimit = field(default_factory=lambda: BatchLimit(1))
    preview: list[tuple[np.ndarray, Prediction]] = field(default_factory=list)
    interrupted: bool = False
    error: str | None = None


class Replayer:
    """Run one replay: read -> decode -> batch -> engine -> output bag + scorer."""

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

    def run(self, reader: Any) -> None:
        """Process the bag; the last batch is flushed also when the bag is damaged."""
        with self.state.stages.loop():
            try:
                self._read(reader)
            except BagWriteError:  # the output bag is full: nothing more can be written
                raise
            except BagError:
                self._flush()  # the frames read before the damage are still good
                raise
            else:
                self._flush()
            finally:
                self._progress.close()

    def _read(self, reader: Any) -> None:
        limit_stamp: int | None = None  # stamp of the last selected frame once the limit is hit
        seen = 0
        for topic, msgtype, stamp, msg in self._messages(reader):
            if limit_stamp is not None and (stamp > limit_stamp or not self.scorer.pending):
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
                self.out.calibration.update(msg)
            else:
                self._add_gt(topic, stamp, msg)

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
        with self.state.stages("metrics"):
            self.scorer.add_gt(task, stamp, array)

    def _flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        start, stages = time.perf_counter(), self.state.stages
        with stages("engine"):
            predictions = self.engine.infer_within(self.state.batch, [f.rgb for f in batch],
                                                   self.heads)
        if predictions is None:  # device out of memory: these frames dropped, batch halved
            self.state.failures[OUT_OF_MEMORY] += len(batch)
            self._progress.update(len(batch), sum(self.state.failures.values()))
            return
        for index, (frame, pred) in enumerate(zip(batch, predictions)):
            with stages("encode"):
                messages = self.out.messages(frame, pred)
            with stages("write"):
                try:
                    self.out.write(messages)
                except BagWriteError:  # a full disk: the bag keeps the frames written before
                    self.state.frames_out += index
                    raise
            with stages("metrics"):
                self.scorer.add_prediction(frame.stamp_ns, pred)
            self._keep_for_preview(frame, pred)
        elapsed = time.perf_counter() - start
        self.state.processing_s += elapsed
        self.state.latencies_ms += [elapsed * 1000.0] * len(batch)
        self.state.frames_out += len(batch)
        self.scorer.drop_gt_before(batch[0].stamp_ns)
        self._progress.update(len(batch), sum(self.state.failures.values()))

    def _keep_for_preview(self, frame: Frame, pred: Prediction) -> None:
        if self.state.frames_out % self._preview_every == 0 and \
                len(self.state.preview) < PREVIEW_ROWS:
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
