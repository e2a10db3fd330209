# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Keep-latest slots and the worker thread.

Slots: replacement counts drops, batching waits for other cameras. Worker: processes only
while resumed, survives a failing batch, and stop waits for the batch in flight.

No timing assertions: a wait that must end early is checked against an event that would come
much later (a frame put or a timeout 10-60 s away), so a loaded machine cannot fail them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tips_ros.ros.scheduling import FrameWorker, LatestSlots, Pending

WAIT_S = 120.0  # limit of every wait for an event (loaded CI machine)


def test_newest_frame_wins_and_drops_are_counted():
    slots: LatestSlots[int] = LatestSlots(1)
    for value in range(5):
        slots.put(0, value)
    (taken,) = slots.take(max_batch=4, max_wait_s=0.0)
    assert taken.item == 4 and slots.drops == [4]
    assert slots.take(max_batch=4, max_wait_s=0.0, timeout_s=0.05) == []


def test_batch_waits_for_second_camera_up_to_max_wait():
    slots: LatestSlots[str] = LatestSlots(2)
    slots.put(0, "a")
    threading.Timer(0.05, slots.put, args=(1, "b")).start()
    batch = slots.take(max_batch=2, max_wait_s=60.0)  # returns as soon as "b" is there
    assert [p.item for p in batch] == ["a", "b"]


def test_batch_does_not_wait_past_max_wait():
    slots: LatestSlots[str] = LatestSlots(2)
    slots.put(0, "a")
    late = threading.Timer(10.0, slots.put, args=(1, "b"))  # long after max_wait
    late.start()
    try:
        batch = slots.take(max_batch=2, max_wait_s=0.05)
    finally:
        late.cancel()
    assert [p.item for p in batch] == ["a"]


def test_max_batch_limits_and_close_wakes_waiter():
    slots: LatestSlots[int] = LatestSlots(3)
    for cam in range(3):
        slots.put(cam, cam)
    assert [p.camera for p in slots.take(max_batch=2, max_wait_s=0.0)] == [0, 1]
    assert [p.camera for p in slots.take(max_batch=2, max_wait_s=0.0)] == [2]
    threading.Timer(0.05, slots.close).start()
    start = time.monotonic()
    assert slots.take(max_batch=1, max_wait_s=0.0, timeout_s=60.0) == []
    assert time.monotonic() - start < 30.0  # woken by close, not by the 60 s timeout


def wait_until(predicate: Callable[[], bool]) -> bool:
    """Poll ``predicate`` until it holds or WAIT_S pass."""
    deadline = time.monotonic() + WAIT_S
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


class Recorder:
    """A worker's ``process``: records batches; a batch of item "boom" raises, "slow" blocks."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.errors: list[Exception] = []
        self.took = threading.Event()
        self.in_slow = threading.Event()
        self.release = threading.Event()
        self.stopping_seen: list[bool] = []

    def process(self, batch: list[Pending[str]], stopping: threading.Event) -> None:
        item = batch[0].item
        if item == "boom":
            self.took.set()
            raise ValueError("boom")
        if item == "slow":
            self.in_slow.set()
            assert self.release.wait(WAIT_S)
        self.stopping_seen.append(stopping.is_set())
        self.items.append(item)
        self.took.set()

    def on_error(self, err: Exception) -> bool:
        self.errors.append(err)
        return True

    def put_and_wait(self, slots: LatestSlots[str], item: str) -> None:
        self.took.clear()
        slots.put(0, item)
        assert self.took.wait(WAIT_S)


def test_worker_processes_while_resumed_and_survives_a_failing_batch():
    slots: LatestSlots[str] = LatestSlots(1)
    recorder = Recorder()
    worker = FrameWorker(slots, recorder.process, lambda: (1, 0.0), recorder.on_error)
    try:
        slots.put(0, "before")  # paused: the frame waits (and is emptied on resume)
        worker.resume()
        assert worker.active
        recorder.put_and_wait(slots, "boom")
        recorder.put_and_wait(slots, "after")
        assert recorder.items == ["after"] and [str(e) for e in recorder.errors] == ["boom"]
        worker.pause()
        assert not worker.active
        slots.put(0, "paused")  # not taken while paused, and emptied by resume
        worker.resume()
        recorder.put_and_wait(slots, "again")
        assert recorder.items == ["after", "again"]
    finally:
        worker.stop(on_slow_stop=lambda: None)


def test_worker_stop_waits_for_the_batch_in_flight_and_marks_it_stopping():
    slots: LatestSlots[str] = LatestSlots(1)
    recorder = Recorder()
    worker = FrameWorker(slots, recorder.process, lambda: (1, 0.0), recorder.on_error)
    worker.resume()
    slots.put(0, "slow")
    assert recorder.in_slow.wait(WAIT_S)
    notices: list[str] = []
    stopper = threading.Thread(target=worker.stop, args=(lambda: notices.append("slow"), 0.0))
    stopper.start()
    assert wait_until(lambda: notices == ["slow"])  # stop is waiting for the batch
    assert stopper.is_alive()
    recorder.release.set()
    stopper.join(WAIT_S)
    assert not stopper.is_alive()
    assert recorder.items == ["slow"] and recorder.stopping_seen == [True]


def test_worker_call_runs_on_the_worker_thread_and_returns_or_raises():
    """A compiled engine's warm-up runs on the thread that infers (CUDA-graph trees)."""
    slots: LatestSlots[str] = LatestSlots(1)
    recorder = Recorder()
    worker = FrameWorker(slots, recorder.process, lambda: (1, 0.0), recorder.on_error)
    try:
        assert worker.call(lambda: threading.current_thread().name) == "tips_worker"
        worker.resume()  # between batches while active too
        recorder.put_and_wait(slots, "frame")
        assert worker.call(lambda: threading.current_thread().name) == "tips_worker"

        def fail() -> None:
            raise ValueError("warm-up failed")

        with pytest.raises(ValueError, match="warm-up failed"):
            worker.call(fail)
        recorder.put_and_wait(slots, "after")  # the worker goes on
        assert recorder.items == ["frame", "after"]
    finally:
        worker.stop(lambda: None)
    with pytest.raises(RuntimeError, match="worker thread has ended"):
        worker.call(lambda: None)
