# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``output_size``: every output at one chosen resolution, upsampled once on the device.

The engine's outputs, the replay's output bag (images, cloud, ``depth/camera_info`` with K
and P scaled exactly) and the option parsing; the node's topics are checked in
``test_node.py``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from rosbags.highlevel import AnyReader
from sample_images import random_image

from tips_ros.engine import colors
from tips_ros.engine.postprocess import resize_frames, upsample, upsample_normals
from tips_ros.engine.prediction import HEADS, OutputSize, VIEWS
from tips_ros.errors import UsageError
from tips_ros.io.outputs import colors_at, scale_intrinsics
from tips_ros.offline.bags import SYNTH_TOPICS, write_synth_bag
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.replay import replay
from tips_ros.offline.synthetic import render_sequence

QUERIES = ("floor", "a red box")
OUTPUTS = set(HEADS) | {view for view, head in VIEWS.items() if head in HEADS}
#: Prediction fields that are images (rows x columns first)
IMAGE_FIELDS = ("depth", "normals", "class_ids", "heatmaps", "normals_color",
                "segmentation_color", "heatmaps_color")


@pytest.mark.parametrize("text, shape", [
    ("input", (96, 128)), ("80x60", (60, 80)), ("200x150", (150, 200)), ("0.5", (48, 64)),
    (" 0.25 ", (24, 32)), ("1", (96, 128)),
])
def test_output_size_parses_and_sizes(text: str, shape: tuple[int, int]) -> None:
    assert OutputSize.parse(text).shape(96, 128) == shape


@pytest.mark.parametrize("text", ["", "0", "1.5", "-0.5", "80x", "x60", "0x60", "80x60x2",
                                  "big", "99999x10", "nan"])
def test_bad_output_size_is_one_sentence(text: str) -> None:
    with pytest.raises(ValueError, match="output_size") as err:
        OutputSize.parse(text)
    assert "\n" not in str(err.value) and text.strip() in str(err.value)
    with pytest.raises(UsageError, match="output_size"):
        RunOptions(output_size=text)


def test_every_output_at_the_output_size_upsampled_once(tiny_engine) -> None:
    """Each field comes at the chosen size, straight from the head (no detour via the input)."""
    engine = tiny_engine
    engine.set_queries(QUERIES)
    images = [random_image(96, 128, seed=3), random_image(131, 77, seed=4)]
    saved = engine.config
    engine.config = replace(saved, output_size="80x60")
    try:
        preds = engine.infer(images, OUTPUTS)
        with torch.inference_mode():
            uploaded = engine.upload(images[:1])
            raw = engine.raw_heads(engine.resize(uploaded, (448, 448)), (32, 32), OUTPUTS)
    finally:
        engine.config = saved
    for pred in preds:  # both camera sizes: one output size
        for name in IMAGE_FIELDS:
            assert getattr(pred, name).shape[:2] == (60, 80), name
    pred = preds[0]
    np.testing.assert_allclose(pred.depth, upsample(raw["depth"][:, None], (60, 80))[0, 0],
                               rtol=1e-6)
    np.testing.assert_allclose(pred.normals, upsample_normals(raw["normals"], (60, 80))[0]
                               .permute(1, 2, 0), atol=1e-6)
    np.testing.assert_allclose(pred.heatmaps, upsample(raw["heatmaps"], (60, 80))[0]
                               .permute(1, 2, 0), atol=1e-6)
    small = resize_frames(torch.from_numpy(images[0])[None], (60, 80))
    heatmaps = torch.from_numpy(pred.heatmaps).permute(2, 0, 1)[None]
    overlay = colors.overlay_heatmaps(small, heatmaps, palette=engine._palettes.queries)
    np.testing.assert_array_equal(pred.heatmaps_color, overlay[0].numpy())
    np.testing.assert_array_equal(pred.segmentation_color,
                                  colors.ade20k_palette().numpy()[pred.class_ids])


def test_input_output_size_is_the_camera_size(tiny_engine) -> None:
    tiny_engine.set_queries(QUERIES)
    (pred,) = tiny_engine.infer([random_image(96, 128, seed=5)], OUTPUTS)
    for name in IMAGE_FIELDS:
        assert getattr(pred, name).shape[:2] == (96, 128), name


def test_cloud_colours_come_from_the_camera_image_at_the_output_size() -> None:
    rgb = random_image(96, 128, seed=6)
    assert colors_at(rgb, (96, 128)) is rgb
    small = colors_at(rgb, (48, 64))
    mean = rgb[:2, :2].reshape(-1, 3).mean(0)  # area average of the 2x2 block, rounded
    assert small.shape == (48, 64, 3) and np.abs(small[0, 0] - mean).max() <= 0.5


def test_replay_writes_every_output_at_the_output_size(tiny_engine, tmp_path: Path) -> None:
    """Images, cloud and depth/camera_info agree on 64x48; K and P are scaled exactly."""
    size = (128, 96)
    bag = write_synth_bag(tmp_path / "in", 2, size)
    report = replay(ReplayOptions(bag, tmp_path / "out", RunOptions(
        image_topic=SYNTH_TOPICS["image"], queries=QUERIES, output_size="64x48",
        gt_depth_topic=SYNTH_TOPICS["depth"])), tiny_engine)
    assert report["output_size"] == "64x48" and report["frames_out"] == 2
    assert report["frames_scored"] == {"depth": 2}  # scored against the 128x96 ground truth
    assert tiny_engine.config.output_size == "64x48"
    k_input = next(render_sequence(1, *size)).K
    seen = set()
    with AnyReader([tmp_path / "out"]) as reader:
        for connection, _, raw in reader.messages():
            msg = reader.deserialize(raw, connection.msgtype)
            topic = connection.topic
            if connection.msgtype == "sensor_msgs/msg/Image":
                assert (msg.width, msg.height) == (64, 48), topic
            elif topic == "/tips/depth/camera_info":
                assert (msg.width, msg.height) == (64, 48)
                k = scale_intrinsics(k_input, size, (64, 48))
                np.testing.assert_array_equal(msg.k.reshape(3, 3), k)
                np.testing.assert_array_equal(msg.p.reshape(3, 4)[:, :3], k)
            elif topic == "/tips/points":
                assert (msg.width, msg.height) == (64, 48)
            else:
                continue
            seen.add(topic)
    assert {"/tips/depth", "/tips/heatmaps/color", "/tips/points",
            "/tips/depth/camera_info"} <= seen
    tiny_engine.config.output_size = "input"


def test_calibration_checked_at_the_camera_size_scaled_to_another_aspect() -> None:
    """A 640x480 calibration serves 240x160 outputs: checked against 640x480, K scaled exactly."""
    from types import SimpleNamespace

    from tips_ros.io.camera_info import Calibration, CameraInfoError, depth_camera_info

    k = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    info = SimpleNamespace(width=640, height=480, distortion_model="plumb_bob", d=[0.0] * 5,
                           k=k.reshape(9), r=np.eye(3).reshape(9),
                           p=np.hstack([k, np.zeros((3, 1))]).reshape(12),
                           header=SimpleNamespace(frame_id="cam"))
    with pytest.raises(CameraInfoError, match="aspect ratio"):
        depth_camera_info(info, 240, 160)  # checked against the outputs: another aspect
    model = depth_camera_info(info, 240, 160, "cam", image_size=(640, 480))
    expected = scale_intrinsics(k, (640, 480), (240, 160))
    np.testing.assert_array_equal(model.k, expected)
    np.testing.assert_array_equal(model.p[:, :3], expected)
    calibration = Calibration()
    calibration.update(info)
    found, error, changed = calibration.model(240, 160, "cam", (640, 480))
    assert error is None and changed and (found.width, found.height) == (240, 160)
