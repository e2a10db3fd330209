# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Output payloads shared by the node and replay."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tips_ros.engine.prediction import ALL_HEADS, Prediction, VIEWS
from tips_ros.io.outputs import (
    CLOUD_DTYPE,
    CORE_TOPICS,
    encode_prediction,
    FEATURE_TOPICS,
    heads_for,
    IMAGE,
    JSON,
    LABEL_INFO,
    labels_json,
    point_cloud,
    queries_json,
    scale_intrinsics,
    TOPICS,
    topics_for,
    VISION_TOPICS,
)


def test_heads_for_topics():
    assert heads_for(["depth"]) == {"depth"}
    assert heads_for(["normals/color"]) == {"normals_color"}
    assert heads_for(["depth/camera_info"]) == set()
    assert heads_for(["points"]) == {"depth", "segmentation"}
    assert heads_for(["segmentation/labels", "zeroshot/labels"]) == set()
    assert heads_for(["detections"]) == {"heatmaps"}
    assert heads_for(["detections_3d", "segmentation/confidence"]) == {
        "heatmaps", "depth", "segmentation_confidence"}


def test_topic_table_names_known_heads_and_prediction_fields():
    fields = set(Prediction.__dataclass_fields__)
    for name, topic in TOPICS.items():
        assert set(topic.with_heads) <= set(ALL_HEADS) | set(VIEWS), name
        assert set(topic.needs) <= set(ALL_HEADS) | set(VIEWS), name
        assert topic.kind != IMAGE or topic.source in fields, name
        assert (topic.kind == JSON) == (topic.payload is not None), name
        assert topic.latched == (topic.kind in (JSON, LABEL_INFO)), name
    groups = [set(CORE_TOPICS), set(FEATURE_TOPICS), set(VISION_TOPICS)]
    assert set().union(*groups) == set(TOPICS) and sum(map(len, groups)) == len(TOPICS)


def test_topics_that_come_with_heads():
    """What replay writes for its heads: images of the heads, latched maps, geometry."""
    heads = {"depth", "segmentation", "segmentation_color"}
    assert topics_for(heads, camera_info=False) == [
        "depth", "segmentation", "segmentation/color", "segmentation/labels",
        "segmentation/label_info"]
    assert topics_for(heads) == [
        "depth", "segmentation", "segmentation/color", "depth/camera_info",
        "segmentation/labels", "points", "segmentation/label_info"]
    assert topics_for(heads, kinds=(IMAGE, JSON)) == [
        "depth", "segmentation", "segmentation/color", "segmentation/labels"]
    assert topics_for({"heatmaps", "zeroshot"}, kinds=(IMAGE,)) == ["heatmaps", "zeroshot"]
    assert topics_for({"zeroshot"}) == ["zeroshot", "zeroshot/labels"]
    assert topics_for({"heatmaps"}) == ["heatmaps", "heatmaps/queries", "detections"]
    assert topics_for({"heatmaps", "depth"}) == [
        "depth", "heatmaps", "depth/camera_info", "heatmaps/queries", "points", "detections",
        "detections_3d"]
    assert topics_for({"heatmaps", "depth"}, camera_info=False) == [
        "depth", "heatmaps", "heatmaps/queries", "detections"]


def test_encodings_and_bytes():
    pred = Prediction(
        depth=np.full((4, 6), 2.5, np.float32),
        class_ids=np.arange(24, dtype=np.uint8).reshape(4, 6),
        heatmaps=np.zeros((4, 6, 5), np.float32),
    )
    enc = encode_prediction(pred, ["depth", "segmentation", "heatmaps", "normals"])
    assert set(enc) == {"depth", "segmentation", "heatmaps"}
    assert enc["depth"].encoding == "32FC1" and enc["depth"].step == 24
    assert np.frombuffer(enc["depth"].data, "<f4").tolist() == [2.5] * 24
    assert enc["segmentation"].encoding == "mono8"
    assert enc["heatmaps"].encoding == "32FC5" and enc["heatmaps"].step == 6 * 5 * 4
    pred16 = Prediction(class_ids=np.full((2, 2), 300, np.uint16))
    assert encode_prediction(pred16, ["segmentation"])["segmentation"].encoding == "16UC1"


def test_json_payloads():
    assert json.loads(labels_json(["wall", "floor"])) == {"0": "wall", "1": "floor"}
    assert json.loads(queries_json(("a", "b c"))) == ["a", "b c"]


def test_scale_intrinsics_halves():
    k = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    half = scale_intrinsics(k, (640, 480), (320, 240))
    np.testing.assert_allclose(half, [[250, 0, 159.5], [0, 250, 119.5], [0, 0, 1]])


def test_point_cloud_back_projection():
    k = np.array([[2.0, 0, 1.0], [0, 4.0, 0.0], [0, 0, 1]])
    depth = np.array([[1.0, np.nan, 2.0], [0.0, 3.0, np.inf]], np.float32)
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 2] = (1, 2, 3)
    labels = np.array([[5, 5, 7], [0, 9, 0]], np.uint8)
    cloud = point_cloud(depth, k, rgb, labels, organized=False)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.dense) == (1, 3, 20, True)
    pts = np.frombuffer(cloud.data, CLOUD_DTYPE)
    # (u, v, z): (0,0,1) -> x=(0-1)*1/2; (2,0,2) -> x=(2-1)*2/2; (1,1,3) -> y=(1-0)*3/4
    np.testing.assert_allclose(pts["x"], [-0.5, 1.0, 0.0])
    np.testing.assert_allclose(pts["y"], [0.0, 0.0, 0.75])
    np.testing.assert_allclose(pts["z"], [1.0, 2.0, 3.0])
    assert pts["rgb"][1] == 0x010203 and pts["label"].tolist() == [5, 7, 9]
    # organised (the default): one point per pixel, row-major, NaN x/y/z where depth is invalid
    cloud = point_cloud(depth, k, rgb, labels)
    assert (cloud.height, cloud.width, cloud.dense) == (2, 3, False)
    nan = np.nan
    np.testing.assert_allclose(cloud.data["x"], [-0.5, nan, 1.0, nan, 0.0, nan])
    np.testing.assert_allclose(cloud.data["z"], [1.0, nan, 2.0, nan, 3.0, nan])
    assert cloud.data["label"].tolist() == labels.reshape(-1).tolist()
    assert cloud.data["rgb"][2] == 0x010203


def straightforward_cloud(depth, k, rgb, labels, organized) -> np.ndarray:
    """Back-project the textbook way, in float64 with boolean masks (the reference).

    Organised: every pixel, NaN x, y, z where the depth is invalid.
    """
    valid = np.isfinite(depth) & (depth > 0)
    if organized:
        depth = np.where(valid, depth, np.nan)
        valid = np.ones_like(valid)
    v, u = np.nonzero(valid)
    z = depth[valid].astype(np.float64)
    points = np.zeros(z.shape[0], CLOUD_DTYPE)
    points["x"] = (u - k[0, 2]) * z / k[0, 0]
    points["y"] = (v - k[1, 2]) * z / k[1, 1]
    points["z"] = z
    if rgb is not None:
        colour = rgb[valid].astype(np.uint32)
        points["rgb"] = (colour[:, 0] << 16) | (colour[:, 1] << 8) | colour[:, 2]
    if labels is not None:
        points["label"] = labels[valid]
    return points


@pytest.mark.parametrize("invalid", [0.0, 0.2])
@pytest.mark.parametrize("attributes", [True, False])
@pytest.mark.parametrize("organized", [True, False])
def test_point_cloud_equals_the_straightforward_computation(invalid, attributes, organized):
    rng = np.random.default_rng(int(invalid * 10) + attributes)
    height, width = 37, 53
    depth = rng.uniform(0.05, 9.0, (height, width)).astype(np.float32)
    holes = rng.random((height, width)) < invalid
    depth[holes] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -1.0], holes.sum())
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if attributes else None
    labels = rng.integers(0, 150, (height, width), dtype=np.uint8) if attributes else None
    for k in (np.array([[41.5, 0, 26.2], [0, 39.0, 17.8], [0, 0, 1]]),
              np.array([[30.0, 0, 20.0], [0, 33.0, 15.0], [0, 0, 1]])):  # a second camera
        cloud = point_cloud(depth, k, rgb, labels, organized)
        expected = straightforward_cloud(depth, k, rgb, labels, organized)
        points = cloud.data
        count = height * width if organized else (~holes).sum()
        assert cloud.width * cloud.height == expected.shape[0] == count
        assert points.dtype == CLOUD_DTYPE and cloud.dense == (not organized or not holes.any())
        # float32 rays times float32 depth: within 2 float32 rounding steps of the float64 result
        for axis in ("x", "y"):
            np.testing.assert_allclose(points[axis], expected[axis], rtol=2.5e-7, atol=1e-12)
        np.testing.assert_array_equal(points["z"], expected["z"])  # NaN equal to NaN
        np.testing.assert_array_equal(points["rgb"], expected["rgb"])
        np.testing.assert_array_equal(points["label"], expected["label"])
        again = point_cloud(depth, k, rgb, labels, organized)  # cached rays
        assert points.tobytes() == again.data.tobytes()
