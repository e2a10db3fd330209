# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Keep-latest frame slots and batching for the node's worker thread (no ROS imports).

Subscription callbacks only ``put`` the newest raw message of their camera into a slot; a
frame not yet taken when the next one arrives is replaced and counted as a drop, so no queue
can grow and latency never accumulates. The worker ``take``s a batch: it waits for the first
frame, then up to ``max_wait_s`` for the other cameras, and takes at most ``max_batch``
frames (oldest first).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


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

    def take(self, max_batch: int, max_wait_s: float, timeout_s: float = 0.5) -> list[Pending[T]]:
        """Up to ``max_batch`` frames, oldest first; empty after ``timeout_s`` or on close."""
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
