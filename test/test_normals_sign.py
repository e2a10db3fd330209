# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Published normals point out of surfaces (REP 103 optical frame: x right, y down, z forward).

The released TIPSv2 normals head predicts the negative of that (``../shared/evidence``: floors
come out with y > 0, walls facing the camera with z > 0). Here the tiny model's normals head
is made to follow the released convention exactly: its output layer's weights are zero and its
bias is a constant raw vector, (0, 0, +1) for a wall facing the camera, (0, +1, 0) for a floor
seen by a level camera. Whatever the image, the engine, the colour view and replay's output bag
must then publish the outward normal, and replay must score it against the synthetic (outward)
ground truth like with like.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rosbags.highlevel import AnyReader
from sample_images import random_image
from transformers import Tipsv2DptForDensePrediction

from tips_ros.engine import Engine, EngineConfig
from tips_ros.offline.bags import SYNTH_TOPICS, write_synth_bag
from tips_ros.offline.inputs import ground_truth
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.replay import replay
from tips_ros.offline.synthetic import render_sequence

#: surface -> (raw head output in the released convention, published outward normal)
SURFACES = {
    "wall facing the camera": ((0.0, 0.0, 1.0), (0.0, 0.0, -1.0)),
    "floor, level camera": ((0.0, 1.0, 0.0), (0.0, -1.0, 0.0)),
}
FRAMES, SIZE = 2, (96, 72)


def _constant_head_engine(tiny_models: tuple[Path, Path], raw: tuple[float, ...],
                          out: Path) -> Engine:
    dpt_dir, text_dir = tiny_models
    model = Tipsv2DptForDensePrediction.from_pretrained(dpt_dir)
    with torch.no_grad():
        model.normals_decoder.head.weight.zero_()
        model.normals_decoder.head.bias.copy_(torch.tensor(raw) * 0.37)  # length is irrelevant
    model.save_pretrained(out)
    return Engine(EngineConfig(model=str(out), text_model=str(text_dir), device="cpu",
                               precision="fp32"))


@pytest.mark.parametrize("surface", SURFACES)
def test_engine_publishes_the_outward_normal(
    surface: str, tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, outward = SURFACES[surface]
    engine = _constant_head_engine(tiny_models, raw, tmp_path / "dpt")
    (pred,) = engine.infer([random_image(120, 160, seed=5)], ["normals", "normals_color"])
    np.testing.assert_allclose(pred.normals, np.broadcast_to(outward, pred.normals.shape),
                               atol=1e-6)
    axis = int(np.flatnonzero(outward)[0])  # z < 0 (wall) or y < 0 (floor) at every pixel
    assert (pred.normals[..., axis] < 0).all()
    assert (pred.normals_color[..., axis] == 0).all()  # (n + 1) / 2 * 255 of -1


def test_replay_writes_and_scores_outward_normals(
    tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, outward = SURFACES["floor, level camera"]
    engine = _constant_head_engine(tiny_models, raw, tmp_path / "dpt")
    bag = write_synth_bag(tmp_path / "in", FRAMES, SIZE)
    run = RunOptions(image_topic=SYNTH_TOPICS["image"], gt_normals_topic=SYNTH_TOPICS["normals"],
                     heads=frozenset({"normals"}))
    report = replay(ReplayOptions(bag=bag, output=tmp_path / "out", run=run), engine)

    with AnyReader([tmp_path / "out"]) as reader:
        conn = next(c for c in reader.connections if c.topic == "/tips/normals")
        published = [ground_truth("normals", reader.deserialize(data, conn.msgtype))
                     for _, _, data in reader.messages(connections=[conn])]
    assert len(published) == FRAMES
    assert all((n[..., 1] < 0).all() for n in published)  # the floor's outward normal

    # The synthetic ground truth is outward too: the published (0, -1, 0) is within 11.25
    # degrees exactly where the ground truth is floor-like (floor, box tops), never on the
    # ceiling (which a sign error would score instead).
    truth = np.stack([f.normals for f in render_sequence(FRAMES, *SIZE)]).reshape(-1, 3)
    angles = np.degrees(np.arccos(np.clip(truth @ np.array(outward), -1.0, 1.0)))
    floor_like = float(np.mean(angles < 11.25))
    assert floor_like > 0.1
    metrics = report["metrics"]["normals"]
    assert metrics["pixels"] == truth.shape[0]
    assert metrics["within_11_25"] == pytest.approx(floor_like, abs=2 / truth.shape[0])
