# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""tips_node end to end for the feature outputs (features, features/pca, embedding, zeroshot).

Node, camera publisher and subscribers in separate processes, tiny random model on the CPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_harness import (
    Listener, NodeProcess, diagnostic_values, input_idle, set_parameter, start_publisher,
)

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
IMAGES = ("features", "features/pca", "embedding", "zeroshot", "zeroshot/color", "depth",
          "segmentation")
QUERIES = ["floor", "wall", "a red box"]
D = 32  # hidden size of the tiny test model


@pytest.fixture(scope="module")
def listener():
    listener = Listener("feature_listener")
    yield listener
    listener.close()


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def unmatched(stamps: dict[str, set[int]]) -> dict[str, int]:
    """Return the topics with more than one frame that another topic lacks (topic -> count).

    One may be missing where a subscriber was still being discovered.
    """
    common = set.intersection(*stamps.values())
    return {t: len(s - common) for t, s in stamps.items() if len(s - common) > 1}


def test_feature_topics_end_to_end(tiny_models, listener):
    dpt, text = tiny_models
    ns = "/feat"
    for topic in IMAGES:
        listener.subscribe(Image, f"{ns}/{topic}", BEST_EFFORT)
    listener.subscribe(String, f"{ns}/zeroshot/labels", LATCHED)
    listener.subscribe(DiagnosticArray, "/diagnostics")
    params = {"model": str(dpt), "text_model": str(text), "device": "cpu", "text_queries": QUERIES}

    def stamps() -> dict[str, set[int]]:
        return {t: {stamp_ns(m) for m in listener.get(f"{ns}/{t}")} for t in IMAGES}

    with NodeProcess(params, ros_args=["-r", f"__ns:={ns}"]) as node:
        with start_publisher("--topic", f"{ns}/image", "--frames", "0", "--rate", "3",
                             "--width", "320", "--height", "240",
                             "--frame-id", "feat_optical") as pub:
            assert listener.wait_for(
                lambda: all(len(listener.get(f"{ns}/{t}")) >= 3 for t in IMAGES)), node.log()
            # runtime threshold: above every cosine -> every pixel is "none" (255)
            result = set_parameter(listener, f"{ns}/tips_node", "zeroshot_threshold", 1.0)
            assert result is not None and result.successful
            seen = len(listener.get(f"{ns}/zeroshot"))
            assert listener.wait_for(
                lambda: len(listener.get(f"{ns}/zeroshot")) >= seen + 2), node.log()
            sent = pub.stop()
        # every frame taken, the last one's outputs arrived, and a report made after that
        assert listener.wait_for(lambda: input_idle(listener, f"{ns}/tips_node: input")), (
            node.log())
        assert listener.wait_for(lambda: not unmatched(stamps())), unmatched(stamps())
        reports = len(listener.get("/diagnostics"))
        assert listener.wait_for(lambda: len(listener.get("/diagnostics")) > reports)
        values = diagnostic_values(listener, f"{ns}/tips_node: engine")
        assert node.alive()
    by_topic = {t: listener.get(f"{ns}/{t}") for t in IMAGES}
    for topic, msgs in by_topic.items():
        assert {stamp_ns(m) for m in msgs} <= sent, topic
        assert all(m.header.frame_id == "feat_optical" for m in msgs), topic
    # same frames on every topic (one pass serves all of them)
    assert len(set.intersection(*stamps().values())) >= 3 and not unmatched(stamps()), stamps()
    check_feature_messages(by_topic)
    assert json.loads(listener.get(f"{ns}/zeroshot/labels")[-1].data) == {
        "0": "floor", "1": "wall", "2": "a red box"}
    check_one_pass_per_frame(values)


def check_feature_messages(by_topic: dict[str, list[Image]]) -> None:
    """Check encodings, sizes and values of the feature outputs of a 320x240 input."""
    features = by_topic["features"][-1]
    assert (features.encoding, features.height, features.width) == (f"32FC{D}", 32, 32)
    assert features.step == 32 * D * 4 and not features.is_bigendian
    grid = np.frombuffer(features.data, "<f4").reshape(32, 32, D)
    assert np.isfinite(grid).all()
    embedding = by_topic["embedding"][-1]
    assert (embedding.encoding, embedding.height, embedding.width, embedding.step) == (
        "32FC1", 2, D, D * 4)
    rows = np.frombuffer(embedding.data, "<f4").reshape(2, D)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    for topic in ("features/pca", "zeroshot/color"):
        msg = by_topic[topic][-1]
        assert (msg.encoding, msg.width, msg.height, msg.step) == ("rgb8", 320, 240, 960), topic
    zeroshot = by_topic["zeroshot"]
    assert all((m.encoding, m.width, m.height) == ("mono8", 320, 240) for m in zeroshot)
    ids = [np.frombuffer(m.data, np.uint8) for m in zeroshot]
    assert all(((i < len(QUERIES)) | (i == 255)).all() for i in ids)
    assert (ids[-1] == 255).all()  # after zeroshot_threshold := 1.0


def check_one_pass_per_frame(values: dict[str, str]) -> None:
    """Check one backbone pass per frame with DPT heads and every feature output subscribed."""
    frames = int(values["frames"])
    assert frames >= 3 and int(values["backbone_calls"]) == frames, values
    for head in ("features", "embedding", "zeroshot", "depth", "segmentation"):
        # every frame but possibly the first (a subscriber still being discovered)
        assert frames - 1 <= int(values[f"head_calls.{head}"]) <= frames, (head, values)
    assert values["head_calls.normals"] == "0" and values["head_calls.heatmaps"] == "0"
