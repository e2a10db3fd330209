# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Keep-latest frame slots, batching and the node's worker thread (no ROS imports).

Subscription callbacks only ``put`` the newest raw message of their camera into a slot; a
frame not yet taken when the next one arrives is replaced and counted as a drop, so no queue
can grow and latency never accumulates. The :class:`FrameWorker` thread ``take``s a batch: it
waits for the first frame, then up to ``max_wait_s`` for the other cameras, and takes at most
``max_batch`` frames (oldest first), and hands it to the frame path. Work that must run on
the thread that infers (a compiled engine's warm-up: CUDA-graph trees are per thread) goes
through :meth:`FrameWorker.call`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
#: seconds of waiting for the worker at stop before saying so (``on_slow_stop``)
STOP_NOTICE_S = 2.0
#: seconds the paused worker sleeps between checks of its stop flag
PAUSE_POLL_S = 0.2


@dataclass(frozen=True)
class Pending(Generic[T]):
    """A frame waiting in a slot: its camera index, the payload and its arrival time."""

    camera: int
    item: T
    received: float  # time.monotonic() seconds


class LatestSlots(Generic[T]):
    """One slot per camera holding only the newest item."""

    def __init__(self, cameras: int) -> None:
        self._slots: list[Pending[T] | None] = [None] * cameras
        self._cond = threading.Condition()
        self._closed = False
        self.drops = [0] * cameras  # frames replaced before the worker took them

    def put(self, camera: int, item: T) -> None:
        """Store ``item`` as the newest frame of ``camera``; never blocks for long."""
        with self._cond:
            if self._slots[camera] is not None:
                self.drops[camera] += 1
            self._slots[camera] = Pending(camera, item, time.monotonic())
            self._cond.notify_all()

    def close(self) -> None:
        """Wake a waiting ``take`` for shutdown; later ``take`` calls return at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """Accept and hand out frames again after ``close`` (lifecycle re-activation)."""
        with self._cond:
            self._closed = False
            self._slots = [None] * len(self._slots)

    def take(self, max_batch: int, max_wait_s: float,
             timeout_s: float = 0.5) -> list[Pending[T]]:
        """Take up to ``max_batch`` frames, oldest first; empty after ``timeout_s`` or on close."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._closed and not any(self._slots):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            if self._closed:
                return []
            batch_deadline = time.monotonic() + max_wait_s
            while (
                sum(s is not None for s in self._slots) < min(max_batch, len(self._slots))
                and not self._closed
            ):
                remaining = batch_deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            ready = sorted((s for s in self._slots if s is not None), key=lambda p: p.received)
            taken = ready[:max_batch]
            for pending in taken:
                self._slots[pending.camera] = None
            return taken


#: ``process(batch, stopping)``: handle one batch; ``stopping`` is set once
#: :meth:`FrameWorker.stop` waits for it (its results are then dropped, not published)
Process = Callable[[list[Pending[T]], threading.Event], None]


@dataclass
class _Call:
    """A function to run on the worker thread, and its outcome."""

    fn: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    report: bool = False  # posted (nobody waits): an exception goes to the error handler


class FrameWorker(Generic[T]):
    """The thread that takes batches from :class:`LatestSlots` and processes them.

    Created paused; :meth:`resume` / :meth:`pause` follow the node's activation; :meth:`stop`
    ends it. ``limits()`` gives ``(max_batch, max_wait_s)`` for each take (read per batch,
    so runtime changes apply from the next one). ``on_error(err)`` is called for an
    exception out of ``process``; it returns whether to keep going. Nothing escapes the
    thread.
    """

    def __init__(self, slots: LatestSlots[T], process: Process[T],
                 limits: Callable[[], tuple[int, float]],
                 on_error: Callable[[Exception], bool]) -> None:
        self.slots = slots
        self._process = process
        self._limits = limits
        self._on_error = on_error
        self._active = threading.Event()
        self._stopping = threading.Event()
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tips_worker", daemon=True)
        self._thread.start()

    @property
    def active(self) -> bool:
        """Whether batches are being taken (between :meth:`resume` and :meth:`pause`)."""
        return self._active.is_set()

    def resume(self) -> None:
        """Accept frames (emptied slots) and process them."""
        self.slots.reopen()
        self._active.set()

    def pause(self) -> None:
        """Stop taking frames; a batch being processed finishes."""
        self._active.clear()
        self.slots.close()

    def stop(self, on_slow_stop: Callable[[], None],
             notice_after_s: float = STOP_NOTICE_S) -> None:
        """End the thread and wait for it without a time limit.

        A batch in flight finishes first (with ``stopping`` set, so it is not published).
        ``on_slow_stop()`` is called once if that takes longer than ``notice_after_s``
        seconds.
        """
        self._stopping.set()
        self.pause()
        self._thread.join(timeout=notice_after_s)
        if self._thread.is_alive():
            on_slow_stop()
            self._thread.join()

    def post(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` on the worker thread between batches (within about 0.5 s), no wait.

        An exception of ``fn`` goes to the worker's error handler.
        """
        self._calls.put(_Call(fn, report=True))

    def call(self, fn: Callable[[], R]) -> R:
        """Run ``fn()`` on the worker thread, between batches; return its result or raise.

        Waits as long as ``fn`` takes; raises RuntimeError if the thread has ended.
        """
        call = _Call(fn)
        self._calls.put(call)
        while not call.done.wait(timeout=PAUSE_POLL_S):
            if not self._thread.is_alive():
                raise RuntimeError("the worker thread has ended")
        if call.error is not None:
            raise call.error
        return call.result

    def _run_calls(self) -> None:
        """Run the functions given to :meth:`call`, in order."""
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                call.result = call.fn()
            except BaseException as err:  # handed to the caller, raised there (posted: reported)
                call.error = err
                if call.report and isinstance(err, Exception):
                    self._on_error(err)
            call.done.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._run_calls()
            if not self._active.wait(timeout=PAUSE_POLL_S):
                continue
            max_batch, max_wait_s = self._limits()
            batch = self.slots.take(max_batch, max_wait_s)
            if not batch:
                continue
            try:
                self._process(batch, self._stopping)
            except Exception as err:  # keep the worker alive whatever a frame does
                if not self._on_error(err):
                    return
