# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros bench --e2e``: the node measured end to end through real rclpy processes.

A camera stand-in process (:mod:`tips_ros.tools.camera_sim`) publishes rgb8 frames and a
camera_info to a ``tips_node`` process (``publish_points`` on), and a listener node in this
process subscribes to every image output, to ``points`` and the detection arrays (the
organised cloud and the vision_msgs outputs, when vision_msgs imports) and to
``/diagnostics``. Reported: stamp-to-receipt latency (ms, the last output of a frame),
achieved vs offered rate (frames/s), drops, the node's own diagnostics, and the ROS-side cost
(decode, message building, publishing; ms per frame) measured here separately.

This is a ROS 2 client: it starts ``tips_node`` as a program, it does not import the ROS layer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

import numpy as np
import torch

from tips_ros.engine.prediction import HEADS, ON_REQUEST_VIEWS, Prediction, VIEWS
from tips_ros.io.imaging import decode_image
from tips_ros.io.outputs import (
    CORE_IMAGE_TOPICS, DETECTIONS_3D_TOPIC, DETECTIONS_TOPIC, POINTS_TOPIC, TOPICS,
)
from tips_ros.tools.bench.common import (build_messages, bytes_per_frame, image_message,
                                         StageTimer, summarize)
from tips_ros.engine.parameters import DEFAULTS, normalise
from tips_ros.tools.bench.options import APPLIED, BenchOptions, make_engine
from tips_ros.tools.camera_sim import make_frames

#: namespace of the benchmarked node and its topics
NAMESPACE = "/tips_bench"
#: seconds to wait for the node to load its model and match the listener's subscriptions
START_TIMEOUT_S = 120.0


def ros_env() -> dict[str, str]:
    """Return the environment of the e2e processes: localhost discovery, a private domain."""
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 100))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def ros_side_cost(node: Any, pred: Prediction, rgb: np.ndarray, iters: int,
                  topics: tuple[str, ...]) -> dict[str, float]:
    """Measure ms per frame for decode + message building + publishing ``topics`` of ``pred``.

    Publishing goes to reliable topics that ``node`` itself subscribes to (real DDS transport
    and serialisation, same machine).
    """
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    pubs = [node.create_publisher(Image, f"/bench_ros_cost/{t}", qos) for t in topics]
    subs = [node.create_subscription(Image, f"/bench_ros_cost/{t}", lambda _m: None, qos)
            for t in topics]
    deadline = time.monotonic() + 10.0
    while any(p.get_subscription_count() == 0 for p in pubs) and time.monotonic() < deadline:
        time.sleep(0.05)
    timer, msg = StageTimer(torch.device("cpu")), image_message(rgb)
    for _ in range(iters):
        timer("decode", lambda: decode_image(msg))
        built = timer("messages", lambda: build_messages(pred, topics))
        timer("publish", lambda: [p.publish(m) for p, m in zip(pubs, built)])
    for pub in pubs:
        node.destroy_publisher(pub)
    for sub in subs:
        node.destroy_subscription(sub)
    cost = {stage: float(np.mean(v)) for stage, v in timer.samples.items()}
    cost["total"] = sum(cost.values())
    return cost


@dataclass
class Receipts:
    """What the listener received.

    ``stamps``: per output topic, input stamp (ns) -> receipt time (ns, ``time.time_ns``);
    ``node_stats``: the node's latest diagnostics values (strings, as published).
    """

    #: the image outputs subscribed to (:func:`image_topics`)
    images: tuple[str, ...] = ()
    stamps: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    #: frames received per non-image output (points, detections, detections_3d)
    others: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    node_stats: dict[str, str] = field(default_factory=dict)

    def subscribe(self, listener: Any, outputs: str) -> None:
        """Subscribe ``listener`` to the node's image outputs and diagnostics.

        The images of :func:`image_topics`; with ``outputs`` ``all`` also :func:`other_outputs`.
        """
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.images = image_topics(outputs)
        for topic in self.images:
            listener.create_subscription(
                Image, f"{NAMESPACE}/{topic}", lambda msg, t=topic: self._image(t, msg), qos)
        for topic, kind in (other_outputs() if outputs == "all" else {}).items():
            listener.create_subscription(
                kind, f"{NAMESPACE}/{topic}", lambda _msg, t=topic: self._other(t), qos)
        listener.create_subscription(DiagnosticArray, "/diagnostics", self._diagnostics, 10)

    def _other(self, topic: str) -> None:
        self.others[topic] += 1

    def _image(self, topic: str, msg: Any) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.stamps[topic][stamp] = time.time_ns()

    def _diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.hardware_id == f"{NAMESPACE}/tips_node" and "ros_side_p50_ms" in values:
                self.node_stats.clear()
                self.node_stats.update(values)


def image_topics(outputs: str) -> tuple[str, ...]:
    """Return the image outputs subscribed to with ``E2EOptions.outputs`` ``outputs``.

    ``images``: the seven made by every frame's pass (depth, normals, segmentation, heatmaps
    and their colour views); ``all``: also those computed only on request
    (``segmentation/confidence``).
    """
    return tuple(topic for topic in CORE_IMAGE_TOPICS if outputs == "all"
                 or not set(TOPICS[topic].needs) & ON_REQUEST_VIEWS)


def other_outputs() -> dict[str, Any]:
    """Return the non-image outputs subscribed to: topic -> message type."""
    from sensor_msgs.msg import PointCloud2

    kinds: dict[str, Any] = {POINTS_TOPIC: PointCloud2}
    try:
        from vision_msgs.msg import Detection2DArray, Detection3DArray
    except ImportError:  # the node publishes no vision_msgs either
        return kinds
    return {**kinds, DETECTIONS_TOPIC: Detection2DArray, DETECTIONS_3D_TOPIC: Detection3DArray}


def _node_command(options: BenchOptions, precision: str) -> list[str]:
    """Return the command line of the ``tips_node`` process under :data:`NAMESPACE`.

    The node runs the engine configuration the bench measures (every applied parameter that
    differs from its default, e.g. from ``--params-file``), with ``publish_points`` on; each
    value as a user writes it after ``-p name:=`` (the parser reads YAML): lists as JSON,
    booleans as ``true``/``false``, the rest as is.
    """
    params = options.node_params(precision=precision)
    values = {name: getattr(params, name) for name in APPLIED
              if getattr(params, name) != normalise(name, DEFAULTS[name])}
    values |= {"model": options.model, "text_model": options.text_model,
               "publish_points": True}
    command = [sys.executable, "-m", "tips_ros.ros.startup", "--ros-args",
               "-r", f"__ns:={NAMESPACE}"]
    for name, value in values.items():
        text = json.dumps(value) if isinstance(value, (list, tuple, bool)) else str(value)
        command += ["-p", f"{name}:={text}"]
    return command


def _camera_command(options: BenchOptions) -> list[str]:
    """Return the command line of the camera stand-in: warm-up plus measured frames."""
    e2e = options.e2e
    width, height = options.frame_size
    return [sys.executable, "-m", "tips_ros.tools.camera_sim", "--topic", f"{NAMESPACE}/image",
            "--frames", str(e2e.warmup_frames + e2e.frames), "--rate", str(e2e.rate_hz),
            "--width", str(width), "--height", str(height), "--wait-subscriber", "120",
            "--info"]


def _stop(*procs: subprocess.Popen) -> None:
    """Stop the processes with SIGINT, as a user would; kill what does not end in 10 s."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(2)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _stream(options: BenchOptions, executor: Any, listener: Any, node: subprocess.Popen,
            env: dict[str, str]) -> list[int]:
    """Run the camera once the node is up; return the stamps (ns) it sent.

    Raises RuntimeError as soon as the node process has ended (before or while streaming) or
    its outputs did not appear within :data:`START_TIMEOUT_S`: no camera waits out a dead node.
    """
    # The node skips outputs nobody listens to: start the camera once its publishers and this
    # process's subscriptions have discovered each other.
    deadline = time.monotonic() + START_TIMEOUT_S
    while any(listener.count_publishers(f"{NAMESPACE}/{t}") == 0 for t in CORE_IMAGE_TOPICS):
        _check_alive(node, "before its outputs appeared")
        if time.monotonic() > deadline:
            raise RuntimeError(f"e2e: tips_node's outputs did not appear within "
                               f"{START_TIMEOUT_S:.0f} s")
        executor.spin_once(timeout_sec=0.05)
    camera = subprocess.Popen(_camera_command(options), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        while camera.poll() is None:
            _check_alive(node, "while the camera was streaming")
            executor.spin_once(timeout_sec=0.01)
        end = time.monotonic() + 3.0  # the last frames' outputs
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
        lines = camera.stdout.read().splitlines()
    finally:
        _stop(camera)
    return [int(line.split()[1]) for line in lines if line.startswith("sent ")]


def _check_alive(node: subprocess.Popen, when: str) -> None:
    """Raise RuntimeError if the ``node`` process has ended (``when`` says at which point)."""
    code = node.poll()
    if code is not None:
        raise RuntimeError(f"e2e: the tips_node process exited with code {code} {when}")


def _result(options: BenchOptions, precision: str, measured: list[int], receipts: Receipts,
            cost: dict[str, float], sizes: dict[str, int]) -> dict[str, Any]:
    """Return the e2e figures of the ``measured`` stamps (ns) from what was received."""
    stamps = receipts.stamps
    images = receipts.images
    complete = [s for s in measured if all(s in stamps[t] for t in images)]
    latency = [(max(stamps[t][s] for t in images) - s) / 1e6 for s in complete]
    last = max((stamps[t][s] for s in complete for t in images), default=0)
    span_s = (last - measured[0]) / 1e9 if complete else 0.0
    return {
        "frame_size": list(options.frame_size), "encoding": "rgb8", "precision": precision,
        "offered_rate_hz": options.e2e.rate_hz, "frames_offered": len(measured),
        "warmup_frames_excluded": options.e2e.warmup_frames,
        "frames_complete": len(complete), "drops": len(measured) - len(complete),
        "achieved_rate_hz": len(complete) / span_s if span_s > 0 else 0.0,
        "latency_ms": summarize(latency) if latency else None,
        "outputs": options.e2e.outputs,
        "topics": list(images) + list(receipts.others),
        "frames_received_other": dict(receipts.others), "ros_side_ms_per_frame": cost,
        "output_size": options.output_size, "bytes_per_frame": sizes,
        "node_diagnostics": {k: _number(v) for k, v in receipts.node_stats.items()},
    }


def bench_e2e(options: BenchOptions, frames: list[np.ndarray],
              node_log: TextIO | None = None) -> dict[str, Any]:
    """Run publisher process -> tips_node process -> listener here; latency, rate, drops, cost.

    Uses the first of ``options.precisions``; ``frames`` (HxWx3 uint8) feed the ROS-side cost.
    The node's output goes to ``node_log`` (a file with a descriptor, e.g. ``sys.stderr``),
    else to a temporary file whose path the result (and any error) names.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    env = ros_env()
    os.environ.update({k: v for k, v in env.items() if k.startswith("ROS_")})
    precision = options.precisions[0]
    if node_log is None:
        node_log = tempfile.NamedTemporaryFile("w+", prefix="tips_bench_node_", suffix=".log",
                                               delete=False)
    where = getattr(node_log, "name", "?")
    rclpy.init()
    listener = rclpy.create_node("tips_bench_listener")
    receipts = Receipts()
    receipts.subscribe(listener, options.e2e.outputs)
    executor = SingleThreadedExecutor()
    executor.add_node(listener)
    node_log.flush()
    node = subprocess.Popen(_node_command(options, precision), env=env, stdout=node_log,
                            stderr=subprocess.STDOUT)
    try:
        try:
            sent = _stream(options, executor, listener, node, env)
        except RuntimeError as err:
            raise RuntimeError(f"{err}; node log: {where}") from None
        engine = make_engine(options, precision, "none")
        pred = engine.infer(frames[:1], set(HEADS) | set(VIEWS))[0]
        engine.close()
        cost = ros_side_cost(listener, pred, frames[0], options.profile_iters,
                             receipts.images)
        sizes = bytes_per_frame(pred, receipts.images)
    finally:
        _stop(node)
        listener.destroy_node()
        rclpy.try_shutdown()
    if not sent:
        raise RuntimeError(f"e2e: the camera process sent nothing; node log: {where}")
    result = _result(options, precision, sent[options.e2e.warmup_frames:], receipts, cost,
                     sizes)
    return {**result, "node_log": where}


def bench_e2e_grid(options: BenchOptions,
                   keep: Callable[[list[dict[str, Any]]], None] = lambda _cells: None,
                   ) -> list[dict[str, Any]]:
    """Run :func:`bench_e2e` once per camera size x output size of ``options.e2e``'s grid.

    Sizes are run in the order given, and for each size every output size in turn, so a
    setting and its reference (``input``: the outputs at the camera's size) are measured
    minutes apart on the same machine. Each cell is an ``e2e`` object (its ``frame_size`` and
    ``output_size`` say which); ``keep`` gets the cells so far after each one (a checkpoint).
    """
    e2e = options.e2e
    cells: list[dict[str, Any]] = []
    for width, height in e2e.grid_sizes or (options.frame_size,):
        frames = make_frames(1, height, width)
        for output_size in e2e.grid_output_sizes or (options.output_size,):
            print(f"bench: e2e {width}x{height} output_size {output_size}", file=sys.stderr,
                  flush=True)
            cells.append(bench_e2e(replace(options, frame_size=(width, height),
                                           output_size=output_size), frames))
            keep(cells)
    return cells


def _number(text: str) -> float | str:
    """Return a diagnostics value as a float where it is one ("12.5" -> 12.5, "n/a" stays)."""
    try:
        return float(text)
    except ValueError:
        return text
