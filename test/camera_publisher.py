"""A camera driver stand-in run as its own process by the tests: publishes images at a rate.

Usage: camera_publisher.py --topic /image --frames 20 --rate 5 --width 640 --height 480
       [--encoding rgb8] [--reliability reliable|best_effort] [--frame-id cam] [--info]
Prints one line per published frame: ``sent <stamp_ns>``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from tips_ros.imaging import encode_image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", default="/image")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--reliability", default="reliable")
    parser.add_argument("--frame-id", default="camera_optical_frame")
    parser.add_argument("--info", action="store_true", help="also publish <topic ns>/camera_info")
    parser.add_argument("--wait-subscriber", type=float, default=20.0)
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node("camera_publisher")
    policy = ReliabilityPolicy.RELIABLE if args.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    pub = node.create_publisher(Image, args.topic, QoSProfile(depth=1, reliability=policy))
    info_pub = node.create_publisher(CameraInfo, args.topic.rsplit("/", 1)[0] + "/camera_info", 1)
    deadline = time.monotonic() + args.wait_subscriber
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : args.height, 0 : args.width]
    base = np.stack([x * 255 // max(1, args.width - 1), y * 255 // max(1, args.height - 1),
                     (x + y) % 256], axis=-1).astype(np.uint8)
    variants = [  # a few noisy versions, made once, so fast rates cost no per-frame work
        encode_image(np.clip(base.astype(int) + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8), "rgb8")
        for _ in range(4)
    ]
    period = 1.0 / args.rate
    next_time = time.monotonic()
    for index in range(args.frames):
        encoded = variants[index % len(variants)]
        msg = Image()
        stamp = node.get_clock().now()
        msg.header.stamp = stamp.to_msg()
        msg.header.frame_id = args.frame_id
        msg.height, msg.width, msg.encoding = encoded.height, encoded.width, encoded.encoding
        msg.step, msg.data = encoded.step, encoded.data
        if args.info:
            info = CameraInfo()
            info.header = msg.header
            info.width, info.height = args.width, args.height
            f = 0.8 * args.width
            info.k = [f, 0.0, (args.width - 1) / 2, 0.0, f, (args.height - 1) / 2, 0.0, 0.0, 1.0]
            info.p = [f, 0.0, (args.width - 1) / 2, 0.0, 0.0, f, (args.height - 1) / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
            info_pub.publish(info)
        pub.publish(msg)
        print(f"sent {stamp.nanoseconds}", flush=True)
        next_time += period
        time.sleep(max(0.0, next_time - time.monotonic()))
    time.sleep(0.5)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
