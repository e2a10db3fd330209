"""tips_node end to end: real rclpy, the node and the camera publisher in their own processes,
the subscribers in this test process (a third process). Tiny random model on the CPU."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String

from ros_harness import NodeProcess, diagnostic_values, lifecycle_state, node_params, start_publisher
from tips_ros.outputs import ALL_TOPICS

BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
TYPES = {"depth/camera_info": CameraInfo, "points": PointCloud2,
         "segmentation/labels": String, "heatmaps/queries": String}


def model_params(tiny_models, **extra):
    return node_params(tiny_models, **extra)


def sent_stamps(proc) -> set[int]:
    out, _ = proc.communicate(timeout=120)
    return {int(line.split()[1]) for line in out.splitlines() if line.startswith("sent ")}


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_depth_from_a_reliable_640x480_camera(tiny_models, listener):
    listener.clear()
    listener.subscribe(Image, "/cam0/depth")
    with NodeProcess(model_params(tiny_models), remaps={"image": "/cam0/image", "depth": "/cam0/depth"}) as node:
        pub = start_publisher("--topic", "/cam0/image", "--frames", "24", "--rate", "4", "--frame-id", "cam0_optical")
        sent = sent_stamps(pub)
        assert listener.wait_for(lambda: len(listener.get("/cam0/depth")) >= 3, 30), node.log()
        depth = listener.get("/cam0/depth")
        assert node.alive()
    for msg in depth:
        assert stamp_ns(msg) in sent and msg.header.frame_id == "cam0_optical"
        assert (msg.encoding, msg.width, msg.height, msg.step) == ("32FC1", 640, 480, 640 * 4)
        values = np.frombuffer(msg.data, "<f4")
        assert np.isfinite(values).all() and values.min() >= 0.001 and values.max() <= 10.0


def test_every_output_reaches_best_effort_subscribers(tiny_models, listener):
    """640x480 from a reliable publisher in; every output to best-effort readers in a third process."""
    listener.clear()
    for topic in ALL_TOPICS:
        qos = LATCHED if topic in ("segmentation/labels", "heatmaps/queries") else BEST_EFFORT
        listener.subscribe(TYPES.get(topic, Image), f"/cam1/{topic}", qos)
    params = model_params(tiny_models, publish_points=True, text_queries=["floor", "wall", "a red box"])
    with NodeProcess(params, ros_args=["-r", "__ns:=/cam1"]) as node:
        pub = start_publisher("--topic", "/cam1/image", "--frames", "16", "--rate", "3", "--info")
        sent = sent_stamps(pub)
        assert listener.wait_for(lambda: all(listener.get(f"/cam1/{t}") for t in ALL_TOPICS), 30), (
            [t for t in ALL_TOPICS if not listener.get(f"/cam1/{t}")], node.log())
        time.sleep(1.0)
    depth_stamps = {stamp_ns(m) for m in listener.get("/cam1/depth")}
    assert depth_stamps <= sent and len(depth_stamps) >= 3
    by_topic = {t: listener.get(f"/cam1/{t}") for t in ALL_TOPICS}
    for topic, msgs in by_topic.items():
        if topic in ("segmentation/labels", "heatmaps/queries"):
            continue
        assert {stamp_ns(m) for m in msgs} <= sent, topic
        assert all(m.header.frame_id == "camera_optical_frame" for m in msgs), topic
    # every processed frame (one with a depth image) has each stream output, same stamps
    for topic in ("normals", "normals/color", "segmentation", "segmentation/color", "heatmaps",
                  "heatmaps/color", "depth/camera_info", "points"):
        missing = depth_stamps - {stamp_ns(m) for m in by_topic[topic]}
        assert len(missing) <= 1, f"{topic} missing for {len(missing)} processed frames"
    normals = by_topic["normals"][-1]
    assert normals.encoding == "32FC3"
    n = np.frombuffer(normals.data, "<f4").reshape(-1, 3)
    assert np.abs(np.linalg.norm(n, axis=1) - 1).max() < 1e-3
    seg = by_topic["segmentation"][-1]
    assert seg.encoding == "mono8" and np.frombuffer(seg.data, np.uint8).max() < 150
    assert {m.encoding for t in ("normals/color", "segmentation/color", "heatmaps/color") for m in by_topic[t]} == {"rgb8"}
    heat = by_topic["heatmaps"][-1]
    assert heat.encoding == "32FC3" and heat.step == 640 * 3 * 4
    assert json.loads(by_topic["heatmaps/queries"][-1].data) == ["floor", "wall", "a red box"]
    assert len(json.loads(by_topic["segmentation/labels"][-1].data)) == 150
    info = by_topic["depth/camera_info"][-1]
    assert (info.width, info.height) == (640, 480)
    cloud = by_topic["points"][-1]
    depth_for_cloud = next(m for m in by_topic["depth"] if stamp_ns(m) == stamp_ns(cloud))
    valid = np.isfinite(np.frombuffer(depth_for_cloud.data, "<f4")).sum()
    assert cloud.width * cloud.height == valid and [f.name for f in cloud.fields] == ["x", "y", "z", "rgb", "label"]


def test_only_subscribed_heads_run(tiny_models, listener):
    listener.clear()
    listener.subscribe(Image, "/cam2/depth")
    listener.subscribe(DiagnosticArray, "/diagnostics")
    with NodeProcess(model_params(tiny_models), ros_args=["-r", "__ns:=/cam2"]) as node:
        pub = start_publisher("--topic", "/cam2/image", "--frames", "60", "--rate", "4")
        assert listener.wait_for(lambda: len(listener.get("/cam2/depth")) >= 3, 30), node.log()
        assert listener.wait_for(
            lambda: int(diagnostic_values(listener, "tips_node: engine").get("head_calls.depth", 0)) >= 3, 10)
        values = diagnostic_values(listener, "tips_node: engine")
        inputs = diagnostic_values(listener, "/cam2/tips_node: input")
        assert [values[f"head_calls.{h}"] for h in ("normals", "segmentation", "heatmaps")] == ["0", "0", "0"]
        # the node reports its own ROS-side cost (decode + message building + publish) and engine time
        assert 0 < float(inputs["ros_side_p50_ms"]) < 1000 and 0 < float(inputs["engine_p50_ms"]) < 10_000
        # the last subscriber leaves: frames keep arriving but the engine stops running
        listener.unsubscribe("/cam2/depth")
        assert listener.wait_for(lambda: int(diagnostic_values(listener, "/cam2/tips_node: input").get(
            "frames_without_subscribers", 0)) >= 4, 20), node.log()
        idle_calls = diagnostic_values(listener, "tips_node: engine")["head_calls.depth"]
        received = int(diagnostic_values(listener, "/cam2/tips_node: input")["frames_received"])
        assert listener.wait_for(lambda: int(diagnostic_values(listener, "/cam2/tips_node: input")[
            "frames_received"]) >= received + 4, 10)
        assert diagnostic_values(listener, "tips_node: engine")["head_calls.depth"] == idle_calls
        sent_stamps(pub)


def test_a_signal_while_the_node_is_still_importing_is_a_clean_exit(tiny_models):
    """`ros2 launch` stopped right after it started the node: SIGINT or SIGTERM arrives while
    torch and transformers are still being imported; exit 0, no traceback."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with NodeProcess(model_params(tiny_models), ros_args=["-r", "__ns:=/early"]) as node:
            time.sleep(0.5)
            code, _ = node.stop(sig)
        assert code == 0 and "Traceback" not in node.log(), (sig, code, node.log())


def test_sigint_and_sigterm_exit_cleanly(tiny_models, listener):
    """Stopped while it streams (worker publishing, diagnostics every 0.1 s): exit 0 within 3 s
    and nothing logged as an error, although the signal shuts the context down under them."""
    listener.subscribe(Image, "/sig/depth")
    for sig in (signal.SIGINT, signal.SIGTERM):
        listener.clear()
        with NodeProcess(model_params(tiny_models, diagnostics_period=0.1, compute_all=True),
                         ros_args=["-r", "__ns:=/sig"]) as node:
            assert listener.wait_for(lambda: lifecycle_state(listener, "/sig/tips_node") == "active", 60), node.log()
            pub = start_publisher("--topic", "/sig/image", "--frames", "100", "--rate", "20",
                                  "--width", "160", "--height", "120")
            assert listener.wait_for(lambda: len(listener.get("/sig/depth")) >= 3, 30), node.log()
            code, seconds = node.stop(sig)
            pub.kill()
        log = node.log()
        assert code == 0 and seconds < 3.0, (sig, code, seconds, log)
        assert "ERROR" not in log and "Traceback" not in log and "failed" not in log, (sig, log)
