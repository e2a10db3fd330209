# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Fault injection for reliability tests, driven by the ``TIPS_ROS_FAULTS`` environment variable.

Off unless the variable is set. ``TIPS_ROS_FAULTS="oom@3,oom@4"`` makes the 3rd and 4th
``Engine.infer`` calls of the process raise a real ``torch.OutOfMemoryError`` before any work,
so the node's recovery path (drop the frame, shrink the batch, report it) runs exactly as it
would on a full GPU. ``kill@NAME`` makes the process SIGKILL itself when it starts the bag
``NAME`` of ``tips-ros evaluate``, the first time only (a marker file remembers it across
processes), so a worker really dies mid-run.

``delay@N=S`` makes the Nth call sleep ``S`` seconds before any work (a slow frame, e.g. to
tear the node down while it is in flight). ``error@N`` makes the Nth call raise a
``RuntimeError`` (any unexpected failure of the frame path).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import torch

ENV = "TIPS_ROS_FAULTS"


class FaultInjector:
    """Counts engine calls and raises the configured faults at the configured calls."""

    def __init__(self, spec: str | None = None) -> None:
        spec = os.environ.get(ENV, "") if spec is None else spec
        self._oom_calls = {
            int(item.split("@", 1)[1]) for item in spec.split(",") if item.startswith("oom@")
        }
        self._kill_names = {
            item.split("@", 1)[1] for item in spec.split(",") if item.startswith("kill@")
        }
        #: ``delay@N=S``: engine call N sleeps S seconds first (a frame slower than teardown)
        self._delays = {
            int(call): float(seconds) for call, seconds in (
                item.split("@", 1)[1].split("=", 1) for item in spec.split(",")
                if item.startswith("delay@"))
        }
        self._error_calls = {
            int(item.split("@", 1)[1]) for item in spec.split(",") if item.startswith("error@")
        }
        self._calls = 0
        self._lock = threading.Lock()

    def before_bag(self, name: str, marker_dir: Path) -> None:
        """Call when a bag starts; SIGKILLs this process at ``kill@name``.

        Once per ``marker_dir`` (the marker file is written first, so the retry runs).
        """
        if name not in self._kill_names:
            return
        marker = Path(marker_dir) / f".{ENV}-killed-{name.replace('/', '_')}"
        if marker.exists():
            return
        marker.write_text("killed once\n")
        os.kill(os.getpid(), signal.SIGKILL)

    def before_infer(self) -> None:
        """Call at the start of each engine call; sleeps or raises as planned for this call.

        A delay is announced on stderr before and after the sleep, so tests can wait for a
        frame to be in flight.
        """
        if not self._oom_calls and not self._delays and not self._error_calls:
            return
        with self._lock:
            self._calls += 1
            call = self._calls
        if call in self._delays:
            print(f"{ENV}: engine call {call} delayed by {self._delays[call]} s", file=sys.stderr,
                  flush=True)
            time.sleep(self._delays[call])
            print(f"{ENV}: engine call {call} resumed", file=sys.stderr, flush=True)
        if call in self._oom_calls:
            raise torch.OutOfMemoryError(f"CUDA out of memory (injected by {ENV} at call {call})")
        if call in self._error_calls:
            raise RuntimeError(f"injected failure (by {ENV} at call {call})")
