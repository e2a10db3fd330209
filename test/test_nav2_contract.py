# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What Nav2's semantic_segmentation_layer and vision_msgs consumers read, across processes.

Written from ``../shared/contracts/nav2_semantic_segmentation_layer.md`` and
``../shared/contracts/vision_msgs.md``: the node, the camera and this consumer run in three
processes. The consumer subscribes like the Nav2 layer (sensor-data QoS for the mask, the
confidence and the cloud; reliable + transient local for the LabelInfo, subscribed only after
the node published it: a late joiner), joins the three streams by exact header stamp, reads the
cloud with the standard reader (``sensor_msgs_py.point_cloud2`` from ``../shared/vendor``) and
walks mask pixels and cloud points in lockstep, checked against the depth image and the camera
model. The same run checks the text-query detections over ROS: one array of each kind per
frame with the input header, a threshold below every value gives one image-sized region per
query, one above every cosine gives empty arrays, and a new query list is answered.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String
from vision_msgs.msg import Detection2DArray, Detection3DArray, LabelInfo
from ros_harness import NodeProcess, node_params, set_parameter, start_publisher, wait_active

from conftest import shared_path

pytestmark = pytest.mark.slow

SENSOR_DATA = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
NS = "/nav"
STREAMS = {"segmentation": Image, "segmentation/confidence": Image, "points": PointCloud2,
           "depth": Image, "depth/camera_info": CameraInfo,
           "detections": Detection2DArray, "detections_3d": Detection3DArray}
WIDTH, HEIGHT = 160, 120


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def point_cloud2():
    """Return the standard PointCloud2 reader (``../shared/vendor`` unless ROS 2 has it)."""
    try:
        from sensor_msgs_py import point_cloud2 as reader
    except ImportError:
        sys.path.insert(0, str(shared_path("vendor", "sensor_msgs_py")))
        from sensor_msgs_py import point_cloud2 as reader
    return reader


def joined(listener) -> dict[int, dict[str, object]]:
    """Return, per header stamp, the message of every stream that has one (exact-time join)."""
    by_stamp: dict[int, dict[str, object]] = {}
    for topic in STREAMS:
        for msg in listener.get(f"{NS}/{topic}"):
            by_stamp.setdefault(stamp_ns(msg), {})[topic] = msg
    return {s: m for s, m in by_stamp.items() if len(m) == len(STREAMS)}


def check_lockstep(frame: dict[str, object]) -> None:
    """Mask pixel (v, u) <-> cloud point v * width + u, as the Nav2 layer walks them."""
    mask, confidence = frame["segmentation"], frame["segmentation/confidence"]
    cloud = frame["points"]
    depth_msg, info = frame["depth"], frame["depth/camera_info"]
    assert mask.encoding == confidence.encoding == "mono8"
    assert (mask.width, mask.height) == (confidence.width, confidence.height) == (WIDTH, HEIGHT)
    assert confidence.header == mask.header == cloud.header == depth_msg.header
    assert (cloud.height, cloud.width) == (mask.height, mask.width)  # width * height equal
    labels = np.frombuffer(mask.data, np.uint8).reshape(HEIGHT, WIDTH)
    depth = np.frombuffer(depth_msg.data, "<f4").reshape(HEIGHT, WIDTH)
    points = point_cloud2().read_points(cloud, ["x", "y", "z", "label"])
    assert len(points) == WIDTH * HEIGHT
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    fx, cx, fy, cy = info.k[0], info.k[2], info.k[4], info.k[5]
    z = points["z"].reshape(HEIGHT, WIDTH)
    np.testing.assert_array_equal(z, np.where(np.isfinite(depth) & (depth > 0), depth, np.nan))
    np.testing.assert_allclose(points["x"].reshape(HEIGHT, WIDTH), (u - cx) / fx * depth,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(points["y"].reshape(HEIGHT, WIDTH), (v - cy) / fy * depth,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(points["label"].reshape(HEIGHT, WIDTH), labels)
    assert np.frombuffer(confidence.data, np.uint8).min() > 0  # the max of 150 probabilities


def check_detections(frame: dict[str, object], queries: list[str]) -> None:
    """Threshold -1: every query's heatmap is one region, the whole image, scored by its peak."""
    boxes, boxes_3d = frame["detections"], frame["detections_3d"]
    assert boxes.header == boxes_3d.header == frame["segmentation"].header
    assert [d.results[0].hypothesis.class_id for d in boxes.detections] == queries
    assert [d.results[0].hypothesis.class_id for d in boxes_3d.detections] == queries
    for box in boxes.detections:
        centre = (box.bbox.center.position.x, box.bbox.center.position.y)
        assert centre == ((WIDTH - 1) / 2, (HEIGHT - 1) / 2)
        assert (box.bbox.size_x, box.bbox.size_y) == (WIDTH, HEIGHT)
        assert -1.0 <= box.results[0].hypothesis.score <= 1.0
    depth = np.frombuffer(frame["depth"].data, "<f4")
    for box in boxes_3d.detections:
        assert depth.min() - 1e-6 <= box.bbox.center.position.z <= depth.max() + 1e-6
        assert box.bbox.size.z >= 0 and box.header.frame_id == "nav_camera_optical"


def test_nav2_semantic_layer_consumer_and_detections(tiny_models, listener):
    listener.clear()
    for topic, kind in STREAMS.items():
        listener.subscribe(kind, f"{NS}/{topic}", SENSOR_DATA)
    listener.subscribe(String, f"{NS}/segmentation/labels", LATCHED)
    queries = ["grass", "sidewalk"]
    params = node_params(tiny_models, publish_points=True, text_queries=queries,
                         detection_threshold=-1.0)
    with NodeProcess(params, ros_args=["-r", "__ns:=/nav"]) as node:
        wait_active(listener, f"{NS}/tips_node", node)
        with start_publisher("--topic", f"{NS}/image", "--frames", "0", "--rate", "4", "--info",
                             "--width", str(WIDTH), "--height", str(HEIGHT),
                             "--frame-id", "nav_camera_optical") as camera:
            assert listener.wait_for(lambda: len(joined(listener)) >= 2), node.log()
            # a late joiner: the node published its LabelInfo at activation, before this
            listener.subscribe(LabelInfo, f"{NS}/segmentation/label_info", LATCHED)
            assert listener.wait_for(lambda: listener.get(f"{NS}/segmentation/label_info"))
            (info,) = listener.get(f"{NS}/segmentation/label_info")
            names = json.loads(listener.get(f"{NS}/segmentation/labels")[-1].data)
            frames = joined(listener)
            for frame in frames.values():
                check_lockstep(frame)
                check_detections(frame, queries)
            # nothing above a cosine of 1: empty arrays, still one per frame
            set_parameter(listener, f"{NS}/tips_node", "detection_threshold", 1.0)
            listener.clear()
            assert listener.wait_for(lambda: len(joined(listener)) >= 2), node.log()
            frame = next(iter(joined(listener).values()))
            assert not frame["detections"].detections and not frame["detections_3d"].detections
            # a new query list is answered with its own texts
            set_parameter(listener, f"{NS}/tips_node", "detection_threshold", -1.0)
            set_parameter(listener, f"{NS}/tips_node", "text_queries", ["door"])
            assert listener.wait_for(lambda: any(
                [d.results[0].hypothesis.class_id for d in f["detections"].detections]
                == ["door"] for f in joined(listener).values())), node.log()
            camera.stop()
    class_map = {c.class_name: c.class_id for c in info.class_map}
    # exactly the mask's ids and names: no extra UNLABELED entry, nothing on 255
    assert [(c.class_id, c.class_name) for c in info.class_map] == [
        (int(i), name) for i, name in names.items()]
    assert max(class_map.values()) < 255
    # the costmap's configured names (README "Use with Nav2") map to ids
    assert [class_map[name] for name in ("wall", "floor", "grass", "sidewalk")] == [0, 3, 9, 11]
