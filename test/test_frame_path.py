# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The frame path on its own: serialized frames in, published outputs out.

Real rclpy in this process: a lifecycle node owns one camera's output publishers, a probe node
subscribes to some of them, and :class:`~tips_ros.ros.frame_path.FramePath` runs batches on
the tiny CPU engine, called directly (no worker thread, no node shell). Waits are for
events (a subscription matched, a message received) with the harness's generous limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode
from rclpy.node import Node
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from ros_harness import WAIT_S, configure_this_process
from sample_images import random_image

from tips_ros.ros.cameras import Camera
from tips_ros.ros.diagnostics import EngineHealth
from tips_ros.ros.frame_path import FramePath
from tips_ros.engine.parameters import SPEC_BY_NAME, NodeParams, read_params
from tips_ros.ros.publishers import CameraOutputs
from tips_ros.ros.scheduling import Pending

HEIGHT, WIDTH = 48, 64


@dataclass
class Rig:
    """The frame path under test, its cameras and a probe subscribed to ``seen/depth``."""

    path: FramePath
    seen: Camera  # has a subscriber on depth
    unseen: Camera  # nobody subscribes to its outputs
    received: list[Image]
    spin_until: Callable[[Callable[[], bool]], bool]


def image_bytes(stamp_s: int, encoding: str = "rgb8", frame_id: str = "cam_optical") -> bytes:
    """Serialize an rgb8 ``HEIGHT x WIDTH`` image (or one labelled ``encoding``)."""
    msg = Image(height=HEIGHT, width=WIDTH, encoding=encoding, step=WIDTH * 3)
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_s, 7
    msg.header.frame_id = frame_id
    msg.data = random_image(HEIGHT, WIDTH, seed=stamp_s).tobytes()
    return serialize_message(msg)


def pending(camera: int, raw: bytes) -> list[Pending[bytes]]:
    return [Pending(camera, raw, time.monotonic())]


@pytest.fixture(scope="module")
def rig(tiny_engine) -> Iterator[Rig]:
    configure_this_process()
    if not rclpy.ok():
        rclpy.init()
    node = LifecycleNode("frame_path_test", namespace="/fp")
    probe = Node("frame_path_probe")
    cameras = [Camera.named("seen"), Camera.named("unseen")]
    for camera in cameras:
        camera.outputs = CameraOutputs(node, camera.prefix, "reliable")
    node.trigger_configure()
    node.trigger_activate()  # lifecycle publishers publish only while active
    received: list[Image] = []
    probe.create_subscription(Image, "/fp/seen/depth", received.append, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)

    def spin_until(done: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + WAIT_S
        while not done() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        return done()

    params: NodeParams = read_params(lambda name: SPEC_BY_NAME[name].default)
    failed: list[Exception] = []  # query sets the engine refused (none expected here)
    path = FramePath(node, tiny_engine, cameras, params, EngineHealth(params.max_batch),
                     lambda err, queries, templates: failed.append(err))
    depth = cameras[0].outputs.publishers["depth"]
    assert spin_until(lambda: depth.get_subscription_count() > 0)
    yield Rig(path, cameras[0], cameras[1], received, spin_until)
    executor.shutdown()
    for camera in cameras:
        camera.outputs.destroy()
    probe.destroy_node()
    node.destroy_node()


def test_subscribed_outputs_carry_the_input_header_and_only_their_heads_run(rig: Rig):
    engine = rig.path.engine
    calls = dict(engine.stats.head_calls)
    processed = rig.seen.stats.processed
    rig.path.process(pending(0, image_bytes(11)), threading.Event())
    assert rig.spin_until(lambda: any(m.header.stamp.sec == 11 for m in rig.received))
    (depth,) = [m for m in rig.received if m.header.stamp.sec == 11]
    assert (depth.header.stamp.nanosec, depth.header.frame_id) == (7, "cam_optical")
    assert (depth.encoding, depth.height, depth.width) == ("32FC1", HEIGHT, WIDTH)
    metres = np.frombuffer(bytes(depth.data), np.float32)
    lo, hi = engine.depth_range
    assert np.all((metres >= lo) & (metres <= hi) | np.isnan(metres))
    assert rig.seen.stats.processed == processed + 1
    # only depth has a subscriber: the segmentation head is not run
    assert engine.stats.head_calls["depth"] == calls.get("depth", 0) + 1
    assert engine.stats.head_calls.get("segmentation", 0) == calls.get("segmentation", 0)


def test_bad_frames_are_counted_by_reason_and_not_run(rig: Rig):
    frames = rig.path.engine.stats.frames
    rig.path.process(pending(0, b"\x00\x01junk"), threading.Event())
    rig.path.process(pending(0, image_bytes(12, encoding="jpeg")), threading.Event())
    rejected = rig.seen.stats.rejected
    assert rejected["malformed_message"] == 1 and rejected["unknown_encoding"] == 1
    assert rig.path.engine.stats.frames == frames


def test_a_camera_nobody_listens_to_is_not_decoded(rig: Rig):
    frames = rig.path.engine.stats.frames
    rig.path.process(pending(1, b"not even decoded"), threading.Event())
    assert rig.unseen.stats.unsubscribed == 1 and not rig.unseen.stats.rejected
    assert rig.path.engine.stats.frames == frames


def test_a_batch_finished_while_stopping_is_not_published(rig: Rig):
    frames = rig.path.engine.stats.frames
    processed = rig.seen.stats.processed
    stopping = threading.Event()
    stopping.set()
    rig.path.process(pending(0, image_bytes(13)), stopping)
    assert rig.path.engine.stats.frames == frames + 1  # the engine ran ...
    assert rig.seen.stats.processed == processed  # ... but nothing was published
    rig.path.process(pending(0, image_bytes(14)), threading.Event())
    assert rig.spin_until(lambda: any(m.header.stamp.sec == 14 for m in rig.received))
    assert not any(m.header.stamp.sec == 13 for m in rig.received)
