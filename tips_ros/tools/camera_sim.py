# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
r"""A camera driver stand-in: publishes rgb8 frames (and optionally camera_info) at a fixed rate.

Used by ``tips-ros bench --e2e`` and the end-to-end tests, each time in its own process::

    python -m tips_ros.tools.camera_sim --topic /image --frames 20 --rate 5 \
        --width 640 --height 480 [--reliability reliable|best_effort] \
        [--frame-id camera_optical_frame] [--info] [--wait-subscriber 60] [--max-seconds 600]

It waits for a subscriber (like a driver whose consumer starts first), then publishes with
keep-last 1 and the given reliability (reliable by default, as camera drivers do), and prints
``sent <stamp_ns>`` per frame so the caller can match outputs to inputs. ``--frames 0``
publishes until SIGINT or SIGTERM (or ``--max-seconds``); either signal ends the run cleanly
after the frame being sent, exit status 0. A publisher that falls behind its rate (a loaded
machine) sends the next frame at once and keeps the rate from there: no burst to catch up.

It lives in the package, not under ``test/``, on purpose: the installed ``tips-ros bench
--e2e`` starts it as ``python -m tips_ros.tools.camera_sim`` (and uses :func:`make_frames`),
and an installed package cannot reach the repository's test folder. The tests use the same
module, so the benchmark and the tests drive the node with the same publisher.
"""

from __future__ import annotations

import argparse
import math
import signal
import threading
import time
from typing import Any

import numpy as np

from tips_ros.io.imaging import encode_image


def make_frames(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Return ``count`` different rgb8 camera-like frames (gradients plus noise), HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256],
                    axis=-1)
    return [np.clip(base + rng.integers(-30, 30, base.shape), 0, 255).astype(np.uint8)
            for _ in range(count)]


def camera_info(width: int, height: int, hfov_scale: float = 0.8) -> Any:
    """Return a plumb-bob ``sensor_msgs/CameraInfo`` for a ``width`` x ``height`` camera.

    Focal length ``hfov_scale * width`` pixels, principal point at the image centre, no
    distortion, identity rectification.
    """
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo()
    info.width, info.height = width, height
    f, cx, cy = hfov_scale * width, (width - 1) / 2, (height - 1) / 2
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def _parser() -> argparse.ArgumentParser:
    """Return the command-line parser (rates in frames/s, sizes in pixels, times in s)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--topic", default="/image")
    add("--frames", type=int, default=20, help="frames to send; 0: until stopped")
    add("--rate", type=float, default=5.0, help="frames per second")
    add("--width", type=int, default=640)
    add("--height", type=int, default=480)
    add("--reliability", choices=("reliable", "best_effort"), default="reliable")
    add("--frame-id", default="camera_optical_frame")
    add("--info", action="store_true", help="also publish <topic namespace>/camera_info")
    add("--wait-subscriber", type=float, default=60.0,
        help="seconds to wait for a subscriber (0: do not wait)")
    add("--max-seconds", type=float, default=600.0,
        help="stop after this many seconds of publishing whatever --frames says")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Publish frames as the arguments ``argv`` say, until done or signalled."""
    parser = _parser()
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _sig, _frame: stop.set())

    import rclpy
    from rclpy.duration import Duration
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import CameraInfo, Image

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("camera_sim")
    policy = (ReliabilityPolicy.RELIABLE if args.reliability == "reliable"
              else ReliabilityPolicy.BEST_EFFORT)
    pub = node.create_publisher(Image, args.topic, QoSProfile(depth=1, reliability=policy))
    info_pub = node.create_publisher(CameraInfo, args.topic.rsplit("/", 1)[0] + "/camera_info", 1)
    deadline = time.monotonic() + args.wait_subscriber
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline and not stop.is_set():
        stop.wait(0.05)
    encoded = [encode_image(frame, "rgb8") for frame in make_frames(4, args.height, args.width)]
    info = camera_info(args.width, args.height)
    period, next_time = 1.0 / args.rate, time.monotonic()
    end = next_time + args.max_seconds
    frames = args.frames or math.inf
    index = 0
    while not stop.is_set() and index < frames and time.monotonic() < end:
        frame = encoded[index % len(encoded)]
        msg = Image(height=frame.height, width=frame.width, encoding=frame.encoding,
                    is_bigendian=frame.is_bigendian, step=frame.step, data=frame.data.tobytes())
        stamp = node.get_clock().now()
        msg.header.stamp, msg.header.frame_id = stamp.to_msg(), args.frame_id
        if args.info:
            info.header = msg.header
            info_pub.publish(info)
        pub.publish(msg)
        print(f"sent {stamp.nanoseconds}", flush=True)
        index += 1
        next_time = max(next_time + period, time.monotonic())
        stop.wait(next_time - time.monotonic())
    pub.wait_for_all_acked(Duration(seconds=5.0))  # a reliable reader gets the last frame too
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
