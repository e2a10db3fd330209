"""Run-time control of tips_node across processes: queries, parameters, lifecycle, cameras, load."""

from __future__ import annotations

import json
import time

from lifecycle_msgs.msg import Transition
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_harness import (
    NodeProcess, node_params, change_state, diagnostic_values, lifecycle_state, set_parameter, start_publisher,
)

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def params(tiny_models, **extra):
    return node_params(tiny_models, **extra)


def channels(msg: Image) -> int:
    return int(msg.encoding[4:])


def test_queries_from_topic_and_parameter(tiny_models, listener):
    listener.subscribe(Image, "/q/heatmaps")
    listener.subscribe(String, "/q/heatmaps/queries", LATCHED)
    query_pub = listener.node.create_publisher(String, "/q/queries", LATCHED)
    with NodeProcess(params(tiny_models, text_queries=["a", "b"]), ros_args=["-r", "__ns:=/q"]) as node:
        pub = start_publisher("--topic", "/q/image", "--frames", "80", "--rate", "8", "--width", "160", "--height", "120")
        assert listener.wait_for(lambda: listener.get("/q/heatmaps"), 30), node.log()
        assert channels(listener.get("/q/heatmaps")[-1]) == 2

        query_pub.publish(String(data='["floor", "wall", "door"]'))
        start = time.monotonic()
        assert listener.wait_for(lambda: channels(listener.get("/q/heatmaps")[-1]) == 3, 5)
        assert listener.wait_for(
            lambda: json.loads(listener.get("/q/heatmaps/queries")[-1].data) == ["floor", "wall", "door"], 5)
        assert time.monotonic() - start < 1.5  # within about 1 s at 8 fps

        result = set_parameter(listener, "/q/tips_node", "text_queries", ["chair"])
        assert result.successful, result.reason
        start = time.monotonic()
        assert listener.wait_for(lambda: channels(listener.get("/q/heatmaps")[-1]) == 1, 5)
        assert time.monotonic() - start < 1.5

        for name, value in (("text_queries", [""]), ("heatmap_mode", "loud"), ("input_size", 450),
                            ("max_batch", 0), ("prompt_templates", ["no placeholder"])):
            result = set_parameter(listener, "/q/tips_node", name, value)
            assert not result.successful and result.reason, name
        query_pub.publish(String(data="[not json"))
        time.sleep(1.0)
        assert channels(listener.get("/q/heatmaps")[-1]) == 1  # previous queries kept
        pub.kill()
        assert node.alive()


def test_lifecycle_deactivate_activate_and_failed_configure(tiny_models, listener):
    listener.subscribe(Image, "/lc/depth")
    with NodeProcess(params(tiny_models), ros_args=["-r", "__ns:=/lc"]) as node:
        pub = start_publisher("--topic", "/lc/image", "--frames", "200", "--rate", "5", "--width", "160", "--height", "120")
        assert listener.wait_for(lambda: len(listener.get("/lc/depth")) >= 2, 30), node.log()
        assert change_state(listener, "/lc/tips_node", Transition.TRANSITION_DEACTIVATE)
        assert lifecycle_state(listener, "/lc/tips_node") == "inactive"
        time.sleep(0.5)
        count = len(listener.get("/lc/depth"))
        time.sleep(2.0)
        assert len(listener.get("/lc/depth")) == count  # no outputs while inactive
        assert change_state(listener, "/lc/tips_node", Transition.TRANSITION_ACTIVATE)
        assert listener.wait_for(lambda: len(listener.get("/lc/depth")) >= count + 2, 10)
        pub.kill()

    bad = params(tiny_models, model="/nonexistent/tips/dpt")
    with NodeProcess(bad, ros_args=["-r", "__ns:=/lcbad"]) as node:
        assert listener.wait_for(lambda: lifecycle_state(listener, "/lcbad/tips_node") == "unconfigured", 30)
        assert listener.wait_for(
            lambda: "does not exist" in diagnostic_values(listener, "/lcbad/tips_node: engine").get("_message", ""), 10)
        assert node.alive()
        assert "does not exist" in node.log()
        # the process stays up and can be configured again once the model path is fixed
        assert set_parameter(listener, "/lcbad/tips_node", "model", params(tiny_models)["model"]).successful
        assert change_state(listener, "/lcbad/tips_node", Transition.TRANSITION_CONFIGURE)
        assert lifecycle_state(listener, "/lcbad/tips_node") == "inactive"


def test_two_cameras_one_batched_pass(tiny_models, listener):
    for cam in ("front", "left"):
        listener.subscribe(Image, f"/mc/{cam}/depth")
    node_params = params(tiny_models, cameras=["front", "left"], max_wait_ms=100.0)
    with NodeProcess(node_params, ros_args=["-r", "__ns:=/mc"]) as node:
        pubs = [start_publisher("--topic", f"/mc/{cam}/image", "--frames", "12", "--rate", "3",
                                "--width", "160", "--height", "120", "--frame-id", f"{cam}_optical")
                for cam in ("front", "left")]
        for p in pubs:
            p.communicate(timeout=120)
        assert listener.wait_for(lambda: all(len(listener.get(f"/mc/{c}/depth")) >= 4 for c in ("front", "left")), 20), node.log()
        assert listener.wait_for(lambda: diagnostic_values(listener, "/mc/tips_node: engine").get("frames"), 5)
        engine = diagnostic_values(listener, "/mc/tips_node: engine")
    for cam in ("front", "left"):
        assert {m.header.frame_id for m in listener.get(f"/mc/{cam}/depth")} == {f"{cam}_optical"}
    frames, passes = int(engine["frames"]), int(engine["backbone_calls"])
    assert passes < frames  # frames of both cameras share forward passes
    assert passes <= 0.75 * frames, (passes, frames)


def test_input_qos_auto_matches_a_best_effort_camera(tiny_models, listener):
    """auto subscribes best effort to a best-effort driver; a forced reliable input cannot match
    it and the node logs the incompatibility with the fix."""
    listener.subscribe(Image, "/qa/depth")
    with NodeProcess(params(tiny_models), ros_args=["-r", "__ns:=/qa"]) as node:
        pub = start_publisher("--topic", "/qa/image", "--frames", "40", "--rate", "5", "--width", "160",
                              "--height", "120", "--reliability", "best_effort")
        assert listener.wait_for(lambda: len(listener.get("/qa/depth")) >= 2, 30), node.log()
        pub.kill()
    with NodeProcess(params(tiny_models, input_reliability="reliable"), ros_args=["-r", "__ns:=/qr"]) as node:
        pub = start_publisher("--topic", "/qr/image", "--frames", "15", "--rate", "5", "--width", "160",
                              "--height", "120", "--reliability", "best_effort", "--wait-subscriber", "5")
        pub.communicate(timeout=60)
        assert listener.wait_for(lambda: "input_reliability:=auto or best_effort" in node.log(), 5), node.log()
