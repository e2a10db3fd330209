# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Run-time control of tips_node across processes.

Queries, parameters, lifecycle transitions, several cameras, input QoS.
"""

from __future__ import annotations

import json

import pytest
from lifecycle_msgs.msg import Transition
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from broken_models import BROKEN, make_broken
from ros_harness import (
    NodeProcess, node_params, change_state, diagnostic_values, lifecycle_state, set_parameter,
    start_publisher, wait_active,
)

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def params(tiny_models, **extra):
    return node_params(tiny_models, **extra)


def channels(msg: Image) -> int:
    return int(msg.encoding[4:])


def test_queries_from_topic_and_parameter(tiny_models, listener):
    listener.subscribe(Image, "/q/heatmaps")
    listener.subscribe(String, "/q/heatmaps/queries", LATCHED)
    query_pub = listener.node.create_publisher(String, "/q/queries", LATCHED)
    engine = lambda: diagnostic_values(listener, "/q/tips_node: engine")  # noqa: E731
    with NodeProcess(params(tiny_models, text_queries=["a", "b"]),
                     ros_args=["-r", "__ns:=/q"]) as node, \
            start_publisher("--topic", "/q/image", "--frames", "0", "--rate", "8",
                            "--width", "160", "--height", "120"):
        assert listener.wait_for(lambda: listener.get("/q/heatmaps")), node.log()
        assert channels(listener.get("/q/heatmaps")[-1]) == 2

        # new queries apply to the frames that follow (no restart); how soon is the machine's
        # speed, so the limit is only the harness's generous one
        query_pub.publish(String(data='["floor", "wall", "door"]'))
        assert listener.wait_for(lambda: channels(listener.get("/q/heatmaps")[-1]) == 3), (
            node.log())
        assert listener.wait_for(lambda: json.loads(
            listener.get("/q/heatmaps/queries")[-1].data) == ["floor", "wall", "door"])

        result = set_parameter(listener, "/q/tips_node", "text_queries", ["chair"])
        assert result.successful, result.reason
        assert listener.wait_for(lambda: channels(listener.get("/q/heatmaps")[-1]) == 1), (
            node.log())

        for name, value in (("text_queries", [""]), ("heatmap_mode", "loud"), ("input_size", 450),
                            ("max_batch", 0), ("prompt_templates", ["no placeholder"])):
            result = set_parameter(listener, "/q/tips_node", name, value)
            assert not result.successful and result.reason, name
        query_pub.publish(String(data="[not json"))
        # once the node has counted the rejection, later heatmaps still have one channel
        assert listener.wait_for(lambda: engine().get("queries_rejected.malformed_json") == "1")
        seen = len(listener.get("/q/heatmaps"))
        assert listener.wait_for(lambda: len(listener.get("/q/heatmaps")) >= seen + 2), node.log()
        assert channels(listener.get("/q/heatmaps")[-1]) == 1  # previous queries kept
        assert node.alive()


def test_lifecycle_deactivate_activate_and_failed_configure(tiny_models, listener):
    listener.subscribe(Image, "/lc/depth")
    listener.subscribe(Image, "/lc/image")  # the camera's frames, to see time pass in frames
    with NodeProcess(params(tiny_models), ros_args=["-r", "__ns:=/lc"]) as node, \
            start_publisher("--topic", "/lc/image", "--frames", "0", "--rate", "5",
                            "--width", "160", "--height", "120"):
        assert listener.wait_for(lambda: len(listener.get("/lc/depth")) >= 2), node.log()
        assert change_state(listener, "/lc/tips_node", Transition.TRANSITION_DEACTIVATE)
        assert lifecycle_state(listener, "/lc/tips_node") == "inactive"
        frames = len(listener.get("/lc/image"))
        assert listener.wait_for(lambda: len(listener.get("/lc/image")) >= frames + 3)
        count = len(listener.get("/lc/depth"))  # outputs written before the deactivation are in
        assert listener.wait_for(lambda: len(listener.get("/lc/image")) >= frames + 13)
        assert len(listener.get("/lc/depth")) == count  # no outputs for 10 frames while inactive
        assert change_state(listener, "/lc/tips_node", Transition.TRANSITION_ACTIVATE)
        assert listener.wait_for(lambda: len(listener.get("/lc/depth")) >= count + 2), node.log()

    bad = params(tiny_models, model="/nonexistent/tips/dpt")
    with NodeProcess(bad, ros_args=["-r", "__ns:=/lcbad"]) as node:
        assert listener.wait_for(
            lambda: lifecycle_state(listener, "/lcbad/tips_node") == "unconfigured")
        assert listener.wait_for(lambda: "does not exist" in diagnostic_values(
            listener, "/lcbad/tips_node: engine").get("_message", ""))
        assert node.alive()
        assert "does not exist" in node.log()
        # the process stays up and can be configured again once the model path is fixed
        model = params(tiny_models)["model"]
        assert set_parameter(listener, "/lcbad/tips_node", "model", model).successful
        assert change_state(listener, "/lcbad/tips_node", Transition.TRANSITION_CONFIGURE)
        assert lifecycle_state(listener, "/lcbad/tips_node") == "inactive"


def test_two_cameras_one_batched_pass(tiny_models, listener):
    """Frames of both cameras share forward passes.

    max_wait_ms (1 s) is longer than a camera's period (1/3 s), so once both stream every pass
    waits for the other camera's frame, on a fast machine as on a slow one; counted between
    two diagnostics taken while both stream.
    """
    cams = ("front", "left")
    for cam in cams:
        listener.subscribe(Image, f"/mc/{cam}/depth")
    engine = lambda: diagnostic_values(listener, "/mc/tips_node: engine")  # noqa: E731
    node_params = params(tiny_models, cameras=list(cams), max_wait_ms=1000.0)
    with NodeProcess(node_params, ros_args=["-r", "__ns:=/mc"]) as node:
        pubs = [start_publisher("--topic", f"/mc/{cam}/image", "--frames", "0", "--rate", "3",
                                "--width", "160", "--height", "120",
                                "--frame-id", f"{cam}_optical")
                for cam in cams]
        try:
            assert listener.wait_for(
                lambda: all(len(listener.get(f"/mc/{c}/depth")) >= 2 for c in cams)), node.log()
            reports = len(listener.get("/diagnostics"))  # count from a report made after that
            assert listener.wait_for(lambda: len(listener.get("/diagnostics")) >= reports + 2)
            before = engine()
            assert listener.wait_for(
                lambda: int(engine()["frames"]) >= int(before["frames"]) + 16), node.log()
            after = engine()
        finally:
            for pub in pubs:
                pub.stop()
    for cam in cams:
        assert {m.header.frame_id for m in listener.get(f"/mc/{cam}/depth")} == {f"{cam}_optical"}
    frames = int(after["frames"]) - int(before["frames"])
    passes = int(after["backbone_calls"]) - int(before["backbone_calls"])
    # two frames per pass; a publisher starved for more than max_wait may leave a few alone
    assert passes <= 0.75 * frames, (passes, frames)


def test_input_qos_auto_matches_a_best_effort_camera(tiny_models, listener):
    """Input reliability auto subscribes best effort to a best-effort driver.

    A forced reliable input cannot match it and the node logs the incompatibility with the fix.
    """
    listener.subscribe(Image, "/qa/depth")
    camera = ("--frames", "0", "--rate", "5", "--width", "160", "--height", "120",
              "--reliability", "best_effort")
    with NodeProcess(params(tiny_models), ros_args=["-r", "__ns:=/qa"]) as node, \
            start_publisher("--topic", "/qa/image", *camera):
        assert listener.wait_for(lambda: len(listener.get("/qa/depth")) >= 2), node.log()
    # the reliable reader never matches, so the camera does not wait for it; it publishes until
    # the node, once active (subscribed), has logged the incompatibility
    reliable = params(tiny_models, input_reliability="reliable")
    with NodeProcess(reliable, ros_args=["-r", "__ns:=/qr"]) as node:
        wait_active(listener, "/qr/tips_node", node)
        with start_publisher("--topic", "/qr/image", *camera, "--wait-subscriber", "0"):
            assert listener.wait_for(
                lambda: "input_reliability:=auto or best_effort" in node.log()), node.log()


def test_broken_checkpoints_fail_configure_with_one_sentence(tiny_models, listener, tmp_path):
    """Each broken DPT checkpoint: configure fails, its sentence on /diagnostics, none loads."""
    names = sorted(BROKEN)
    broken = {name: make_broken(tiny_models[0], tmp_path, name) for name in names}
    node_name = "/lcbroken/tips_node"

    def failed_with(name: str) -> bool:
        message = diagnostic_values(listener, f"{node_name}: engine").get("_message", "")
        return f"'{broken[name]}' cannot be used" in message and all(
            words in message for words in BROKEN[name][1])

    with NodeProcess(params(tiny_models, model=str(broken[names[0]])),
                     ros_args=["-r", "__ns:=/lcbroken"]) as node:
        assert listener.wait_for(lambda: failed_with(names[0])), node.log()
        for name in names[1:]:
            assert set_parameter(listener, node_name, "model", str(broken[name])).successful
            assert not change_state(listener, node_name, Transition.TRANSITION_CONFIGURE)
            assert listener.wait_for(lambda: failed_with(name)), node.log()  # noqa: B023
        assert lifecycle_state(listener, node_name) == "unconfigured"
        assert node.alive()
