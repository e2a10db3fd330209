# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""A careless or hostile operator's corpus, one node process (or command) per class.

Each case asserts that the node stays up, says why on /diagnostics (or the command exits with
one sentence), and that the next good frame is published. The README's reliability table
counts the cases of each class.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from ros_harness import NodeProcess, diagnostic_values, node_params

from tips_ros.io.outputs import CLOUD_DTYPE

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

W, H = 64, 48
FRAME = "cam_optical"
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def image(stamp: int) -> Image:
    """Return a random rgb8 ``W x H`` frame in ``FRAME`` with header stamp ``stamp`` seconds."""
    msg = Image(width=W, height=H, encoding="rgb8", step=3 * W)
    msg.header.stamp.sec, msg.header.frame_id = stamp, FRAME
    msg.data = np.random.default_rng(stamp).integers(0, 256, 3 * W * H, np.uint8).tobytes()
    return msg


def camera_info(**fields) -> CameraInfo:
    """Return a valid ``W x H`` pinhole camera_info in ``FRAME``, with ``fields`` replaced."""
    k = np.array([[50.0, 0.0, 31.5], [0.0, 50.0, 23.5], [0.0, 0.0, 1.0]])
    msg = CameraInfo(width=W, height=H, distortion_model="plumb_bob", d=[0.0] * 5,
                     k=k.reshape(9).tolist(), r=np.eye(3).reshape(9).tolist(),
                     p=np.hstack([k, np.zeros((3, 1))]).reshape(12).tolist())
    msg.header.frame_id = FRAME
    for name, value in fields.items():
        if name == "frame_id":
            msg.header.frame_id = value
        else:
            setattr(msg, name, value)
    return msg


def k_with(**entries: float) -> list[float]:
    """Return the valid K with ``fx``, ``fy``, ``cx``, ``cy`` entries replaced."""
    k = camera_info().k.tolist()
    for name, value in entries.items():
        k[{"fx": 0, "fy": 4, "cx": 2, "cy": 5}[name]] = value
    return k


#: (case, camera_info fields, reason counted on /diagnostics as camera_info_rejected.<reason>)
HOSTILE_CAMERA_INFO = [
    ("NaN in K", {"k": k_with(cx=float("nan"))}, "non_finite"),
    ("infinite focal length", {"k": k_with(fx=float("inf"))}, "non_finite"),
    ("negative focal length", {"k": k_with(fy=-50.0)}, "focal_length"),
    ("focal length 1e-9", {"k": k_with(fx=1e-9, fy=1e-9)}, "focal_length"),
    ("zero K (uncalibrated)", {"k": [0.0] * 9}, "uncalibrated"),
    ("calibration size 2^32-1 square", {"width": 2**32 - 1, "height": 2**32 - 1},
     "calibration_size"),
    ("calibration size 1x1", {"width": 1, "height": 1}, "calibration_size"),
    ("calibration size 64x0", {"height": 0}, "calibration_size"),
    ("calibration 4:3 but 4096x larger", {"width": W * 4096, "height": H * 4096},
     "calibration_size"),
    ("principal point outside the image", {"k": k_with(cx=5000.0)}, "principal_point"),
    ("another camera's frame_id", {"frame_id": "other_optical"}, "frame_id"),
    ("100,000-entry D", {"d": [0.0] * 100_000}, "distortion"),
    ("equidistant with 5 coefficients", {"distortion_model": "equidistant", "d": [0.0] * 5},
     "distortion"),
    ("NaN in D", {"d": [float("nan")] + [0.0] * 4}, "non_finite"),
    ("infinite Tx in P", {"p": [*camera_info().p.tolist()[:3], float("inf"),
                                *camera_info().p.tolist()[4:]]}, "non_finite"),
    ("NaN in R", {"r": [float("nan")] * 9}, "non_finite"),
]


class Camera:
    """Publishes frames and camera_info to the node in namespace ``ns``; records its outputs."""

    def __init__(self, listener, ns: str) -> None:
        self.listener, self.ns = listener, ns
        self.image_pub = listener.node.create_publisher(Image, f"{ns}/image", RELIABLE)
        self.info_pub = listener.node.create_publisher(CameraInfo, f"{ns}/camera_info", RELIABLE)
        for msg_type, topic in ((Image, "depth"), (PointCloud2, "points"),
                                (CameraInfo, "depth/camera_info")):
            listener.subscribe(msg_type, f"{ns}/{topic}", RELIABLE)
        self.stamp = 1000

    def stamps(self, topic: str) -> set[int]:
        return {m.header.stamp.sec for m in self.listener.get(f"{self.ns}/{topic}")}

    def status(self) -> dict[str, str]:
        return diagnostic_values(self.listener, f"{self.ns}/tips_node: input")

    def frame(self, node: NodeProcess) -> int:
        """Publish a frame; return its stamp once its depth is published."""
        self.stamp += 1
        stamp = self.stamp
        self.image_pub.publish(image(stamp))
        assert self.listener.wait_for(lambda: stamp in self.stamps("depth")), node.log()[-3000:]
        return stamp

    def until(self, node: NodeProcess, info: CameraInfo, done) -> int:
        """Publish ``info`` and frames until ``done()``; return the stamp of the last frame.

        Frames go on after ``info`` until the node has taken it (no fixed wait for discovery).
        """
        stamp = 0
        for _ in range(200):
            self.info_pub.publish(info)
            stamp = self.frame(node)
            if done():
                return stamp
        raise AssertionError(f"not done: {self.status()}\n{node.log()[-3000:]}")


def rejected(values: dict[str, str]) -> Counter:
    return Counter({k.split(".", 1)[1]: int(v) for k, v in values.items()
                    if k.startswith("camera_info_rejected.")})


def test_hostile_camera_info(tiny_models, listener):
    """Each bad camera_info: counted with its reason, no points or depth/camera_info, depth on."""
    ns = "/hostile_info"
    camera = Camera(listener, ns)
    settings = node_params(tiny_models, warmup=False, publish_points=True, compute_all=True,
                           diagnostics_period=0.2)
    with NodeProcess(settings, ros_args=["-r", f"__ns:={ns}"]) as node:
        assert listener.wait_for(lambda: camera.image_pub.get_subscription_count() > 0 and
                                 camera.info_pub.get_subscription_count() > 0), node.log()
        good = camera_info()
        camera.until(node, good, lambda: camera.status().get("camera_info") == "valid")
        expected = Counter()
        for case, fields, reason in HOSTILE_CAMERA_INFO:
            expected[reason] += 1
            camera.until(node, camera_info(**fields),
                         lambda: rejected(camera.status()) == expected)
            status = camera.status()
            assert status["_level"] == "1" and reason in status["_message"], (case, status)
            # the next good frame: depth published, nothing built from the bad calibration
            stamp = camera.frame(node)
            assert stamp not in camera.stamps("points") | camera.stamps("depth/camera_info"), case
            # a valid camera_info again: points resume, finite and dense
            stamp = camera.until(node, good, lambda: camera.status().get("camera_info") ==
                                 "valid" and camera.stamp in camera.stamps("points"))
            cloud = next(m for m in listener.get(f"{ns}/points") if m.header.stamp.sec == stamp)
            points = np.frombuffer(bytes(cloud.data), CLOUD_DTYPE)
            xyz = np.stack([points["x"], points["y"], points["z"]])
            assert cloud.is_dense and np.isfinite(xyz).all() and np.abs(xyz).max() < 1e4, case
            assert node.alive(), case
        log = node.log()
        assert "Traceback" not in log
        # one warning per change: at least one per case, each naming its reason
        assert log.count("camera_info rejected:") >= len(HOSTILE_CAMERA_INFO), log[-3000:]
