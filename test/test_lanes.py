# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The frame loop's background lanes: order, back-pressure, errors, drain on close."""

from __future__ import annotations

import threading

import pytest

from tips_ros.offline.lanes import Lane


def test_jobs_run_in_order_on_another_thread_and_close_drains_them() -> None:
    lane, done, threads = Lane("test", depth=2), [], set()

    def job(i: int) -> None:
        threads.add(threading.current_thread().name)
        done.append(i)

    for i in range(50):
        lane.put(lambda i=i: job(i))
    lane.close()
    assert done == list(range(50)) and threads == {"test"}
    lane.close()  # twice is harmless


def test_a_full_lane_holds_the_caller_until_a_job_ends() -> None:
    release, started, lane = threading.Event(), threading.Event(), Lane("test", depth=1)
    lane.put(lambda: (started.set(), release.wait(60)))
    assert started.wait(60)
    lane.put(lambda: None)  # fills the queue (the first job is running)
    blocked = threading.Thread(target=lane.put, args=(lambda: None,))
    blocked.start()
    blocked.join(0.5)
    assert blocked.is_alive()  # the third put waits for room
    release.set()
    blocked.join(60)
    assert not blocked.is_alive()
    lane.close()


def test_the_first_error_comes_back_once_and_later_jobs_are_dropped() -> None:
    lane, done = Lane("test"), []
    lane.put(lambda: done.append(1))
    lane.put(lambda: 1 / 0)
    lane.put(lambda: done.append(3))
    with pytest.raises(ZeroDivisionError):
        lane.join()
    lane.put(lambda: done.append(4))  # the lane stays stopped
    lane.close()
    assert done == [1]


def test_an_error_while_draining_is_raised_by_close() -> None:
    lane = Lane("test")
    lane.put(lambda: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        lane.close()


def test_an_inline_lane_runs_each_job_at_once_in_the_caller() -> None:
    lane, where = Lane("test", inline=True), []
    lane.put(lambda: where.append(threading.current_thread()))
    assert where == [threading.current_thread()]
    with pytest.raises(ZeroDivisionError):
        lane.put(lambda: 1 / 0)
    lane.close()
