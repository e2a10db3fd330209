# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Keep-latest slots: replacement counts drops, batching waits for other cameras.

No timing assertions: a wait that must end early is checked against an event that would come
much later (a frame put or a timeout 10-60 s away), so a loaded machine cannot fail them."""

from __future__ import annotations

import threading
import time

from tips_ros.ros.scheduling import LatestSlots


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
