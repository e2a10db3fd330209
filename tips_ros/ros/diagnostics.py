# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Runtime statistics of the node and the status levels reported on ``/diagnostics``.

ROS-free: the node turns each :class:`Status` into a ``diagnostic_msgs/DiagnosticStatus``
(:func:`tips_ros.ros.messages.diagnostics_msg`).

Levels and thresholds (documented in the README):

* input (one status per camera):
  ERROR if frames arrive but every frame in the window was rejected;
  WARN if no frame for ``stale_after_s`` (camera silent, "stale"), if more than
  ``drop_warn_ratio`` of the received frames were dropped by keep-latest in the window, or if
  the camera's camera_info is rejected (no ``depth/camera_info``, no points);
  OK otherwise.
* engine: ERROR when no model is loaded (unconfigured or configure failed), or while the
  frame path fails (an exception in the last batch, until a batch is processed again); WARN
  for ``fault_hold_s`` seconds after an out-of-memory frame; OK otherwise.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tips_ros.engine.parameters import DEFAULTS
from tips_ros.engine.prediction import BatchLimit
from tips_ros.io.outputs import queries_json

if TYPE_CHECKING:
    from tips_ros.engine import Engine

OK, WARN, ERROR, STALE = 0, 1, 2, 3  # diagnostic_msgs/DiagnosticStatus levels
#: Seconds between two logs of the same repeated warning (every module of the node).
LOG_THROTTLE_S = 5.0


@dataclass(frozen=True)
class Thresholds:
    """Diagnostic thresholds (seconds and ratios)."""

    stale_after_s: float = DEFAULTS["stale_after"]
    drop_warn_ratio: float = 0.5
    fault_hold_s: float = 10.0


@dataclass
class Status:
    """One diagnostic status: level, message and key/value pairs."""

    name: str
    level: int
    message: str
    values: dict[str, str]


class Window:
    """Values with their monotonic time, kept for ``span_s`` seconds (at most ``limit``)."""

    def __init__(self, span_s: float = 10.0, limit: int = 2000) -> None:
        self.span_s = span_s
        self._items: deque[tuple[float, float]] = deque(maxlen=limit)

    def add(self, value: float, now: float | None = None) -> None:
        self._items.append((time.monotonic() if now is None else now, value))

    def _recent(self, now: float) -> list[float]:
        return [v for t, v in self._items if now - t <= self.span_s]

    def percentile(self, q: float, now: float | None = None) -> float | None:
        """Return the ``q``-th percentile of the window (``q`` from 0 to 100); None if empty."""
        values = sorted(self._recent(time.monotonic() if now is None else now))
        if not values:
            return None
        index = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
        return values[index]

    def rate(self, now: float | None = None) -> float:
        """Events per second over the window."""
        now = time.monotonic() if now is None else now
        return len(self._recent(now)) / self.span_s


@dataclass
class InputStats:
    """Counters of one camera input (times in milliseconds, monotonic seconds for instants)."""

    name: str
    received: int = 0
    processed: int = 0
    unsubscribed: int = 0  # frames skipped because no output had a subscriber
    rejected: Counter = field(default_factory=Counter)  # frames skipped, by reason
    noted: Counter = field(default_factory=Counter)  # processed anomalies (stamp_backwards, ...)
    camera_info: str = "none"  # "valid", "rejected (<reason>): <sentence>", or "none" (yet)
    camera_info_reason: str | None = None  # reason of the current rejection, None if none
    camera_info_rejected: Counter = field(default_factory=Counter)  # calibrations, by reason
    last_received: float | None = None  # monotonic seconds
    arrivals: Window = field(default_factory=Window)
    outputs: Window = field(default_factory=Window)
    rejections: Window = field(default_factory=Window)
    latency_ms: Window = field(default_factory=Window)  # processing start -> published
    age_ms: Window = field(default_factory=Window)  # header stamp -> processing start
    ros_side_ms: Window = field(default_factory=Window)  # decode + message building + publish
    engine_ms: Window = field(default_factory=Window)  # engine call, per frame of the batch
    #: serialised bytes of the last processed frame's images and points, per topic
    bytes_per_frame: dict[str, int] = field(default_factory=dict)

    def on_received(self) -> None:
        now = time.monotonic()
        self.received += 1
        self.last_received = now
        self.arrivals.add(1.0, now)

    def on_rejected(self, reason: str) -> None:
        self.rejected[reason] += 1
        self.rejections.add(1.0)

    def on_camera_info(self, reason: str | None, sentence: str = "") -> bool:
        """Record the check of a new calibration (``reason`` None: valid; counted per change).

        Return whether the verdict differs from the previous one (valid, or which reason).
        """
        news = reason != self.camera_info_reason or self.camera_info == "none"
        self.camera_info_reason = reason
        if reason is None:
            self.camera_info = "valid"
        else:
            self.camera_info = f"rejected ({reason}): {sentence}"
            self.camera_info_rejected[reason] += 1
        return news

    def on_processed(self, age_ms: float, latency_ms: float, ros_side_ms: float,
                     engine_ms: float, sizes: dict[str, int] | None = None) -> None:
        """Count a published frame; ``sizes``: its serialised bytes per topic."""
        self.processed += 1
        if sizes is not None:
            self.bytes_per_frame = dict(sizes)
        self.outputs.add(1.0)
        self.age_ms.add(age_ms)
        self.latency_ms.add(latency_ms)
        self.ros_side_ms.add(ros_side_ms)
        self.engine_ms.add(engine_ms)


@dataclass
class EngineHealth(BatchLimit):
    """Engine-side counters that outlive one configure: faults, batch limit, rejected queries.

    ``batch_limit`` is the most frames per engine call: the ``max_batch`` parameter, halved
    after each device out-of-memory (:meth:`~tips_ros.engine.prediction.BatchLimit.on_oom`, as
    :meth:`~tips_ros.engine.engine.Engine.infer_within` reports it). ``last_oom`` is in
    monotonic seconds.
    """

    query_rejections: Counter = field(default_factory=Counter)  # by QueryError reason
    parameter_rejections: Counter = field(default_factory=Counter)  # by parameter name
    frame_error: str = ""  # why the last batch failed; "" once a batch is processed again

    def on_frame_error(self, reason: str) -> None:
        """Record that the frame path failed: the engine status is ERROR until it recovers."""
        self.frame_error = reason
        self.last_fault = time.monotonic()

    def on_frame_ok(self) -> None:
        """Record a batch processed and published: the frame path works (again)."""
        self.frame_error = ""


def _fmt(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.1f}{unit}"


def input_status(stats: InputStats, drops: int, limits: Thresholds) -> Status:
    """Rate one camera input (see the module docstring for the levels)."""
    now = time.monotonic()
    silent_for = None if stats.last_received is None else now - stats.last_received
    in_rate, out_rate = stats.arrivals.rate(now), stats.outputs.rate(now)
    level, message = OK, "receiving"
    if silent_for is None or silent_for > limits.stale_after_s:
        level = WARN
        message = ("no frames yet" if silent_for is None
                   else f"stale: no frame for {silent_for:.1f} s")
    elif stats.rejections.rate(now) > 0 and out_rate == 0:
        level, message = ERROR, f"every frame rejected ({', '.join(sorted(stats.rejected))})"
    elif stats.received and drops / stats.received > limits.drop_warn_ratio:
        level, message = WARN, "dropping most frames: the model is slower than the camera"
    elif stats.camera_info_reason is not None:
        level = WARN
        message = f"camera_info {stats.camera_info}; no depth/camera_info, no points"
    values = {
        "frames_received": str(stats.received),
        "frames_processed": str(stats.processed),
        "frames_dropped": str(drops),
        "frames_rejected": str(sum(stats.rejected.values())),
        "frames_without_subscribers": str(stats.unsubscribed),
        "input_rate_hz": f"{in_rate:.2f}",
        "output_rate_hz": f"{out_rate:.2f}",
        "latency_p50_ms": _fmt(stats.latency_ms.percentile(50, now)),
        "latency_p99_ms": _fmt(stats.latency_ms.percentile(99, now)),
        "frame_age_p50_ms": _fmt(stats.age_ms.percentile(50, now)),
        "frame_age_p99_ms": _fmt(stats.age_ms.percentile(99, now)),
        "engine_p50_ms": _fmt(stats.engine_ms.percentile(50, now)),
        "ros_side_p50_ms": _fmt(stats.ros_side_ms.percentile(50, now)),
        "seconds_since_last_frame": _fmt(silent_for),
        "camera_info": stats.camera_info,
        "bytes_per_frame": str(sum(stats.bytes_per_frame.values())),
    }
    values.update({f"bytes_per_frame.{topic}": str(n)
                   for topic, n in sorted(stats.bytes_per_frame.items())})
    values.update({f"rejected.{reason}": str(n) for reason, n in sorted(stats.rejected.items())})
    values.update({f"noted.{reason}": str(n) for reason, n in sorted(stats.noted.items())})
    values.update({f"camera_info_rejected.{reason}": str(n)
                   for reason, n in sorted(stats.camera_info_rejected.items())})
    return Status(stats.name, level, message, values)


def engine_status(engine: Engine | None, health: EngineHealth, limits: Thresholds, *,
                  model: str, active: bool, configure_error: str = "") -> Status:
    """Rate the engine (see the module docstring for the levels).

    ``model`` is the node's ``model`` parameter, ``active`` whether the node is processing
    frames, ``configure_error`` the reason the last configure failed (empty if none).
    Device memory is reported in MiB.
    """
    if engine is None:
        reason = configure_error or "not configured"
        return Status("engine", ERROR, f"no model loaded: {reason}", {})
    recent_fault = (health.last_oom is not None
                    and time.monotonic() - health.last_oom < limits.fault_hold_s)
    level, message = (WARN, "recovered from device out-of-memory") if recent_fault else (
        OK, "running")
    if not active:
        message = "inactive"
    elif health.frame_error:
        level, message = ERROR, f"frame processing failing: {health.frame_error}"
    memory = engine.device_memory()
    values = {
        "model": model,
        "device": str(engine.device),
        "precision": engine.precision,
        "backbone_calls": str(engine.stats.backbone_calls),
        "frames": str(engine.stats.frames),
        "oom_events": str(health.oom_events),
        "batch_limit": str(health.batch_limit),
        "device_memory_allocated_mb": f"{memory['allocated'] / 2**20:.1f}",
        "device_memory_peak_mb": f"{memory['peak'] / 2**20:.1f}",
        "queries": queries_json(engine.queries),
    }
    values.update({f"head_calls.{h}": str(n) for h, n in engine.stats.head_calls.items()})
    values.update({f"queries_rejected.{reason}": str(n)
                   for reason, n in sorted(health.query_rejections.items())})
    values.update({f"parameters_rejected.{name}": str(n)
                   for name, n in sorted(health.parameter_rejections.items())})
    return Status("engine", level, message, values)
