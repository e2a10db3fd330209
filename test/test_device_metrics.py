# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Metric sums on the engine's device against the numpy reference (``offline/metrics.py``).

Tolerances: at the ground truth's size the float sums agree to 1e-12 relative (only the order
of summation differs) and every count, histogram bin and class count is equal. After
resizing a prediction of another size to the ground truth's size, OpenCV's bilinear weights
(host) and torch's (device) differ in the last float32 bits: float sums to 1e-5 relative,
counts to 0.5 % of the pixels (finite predictions; a NaN spreads to other neighbours in each
library); nearest-resized class ids are identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tips_ros.engine import Engine
from tips_ros.io.cdr import image_parts
from tips_ros.io.imaging import encode_image
from tips_ros.offline.bags import BagWriter, IMAGE_MSGTYPE, SYNTH_FRAME_ID
from tips_ros.offline.device_metrics import frame_reduction
from tips_ros.offline.metrics import (DepthFrame, MetricsAccumulator, NormalFrame,
                                      SegmentationFrame)
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.replay import replay
from tips_ros.offline.scoring import frame_sums, resize
from tips_ros.offline.synthetic import render_sequence

SHAPE = (48, 64)


def maps(seed: int = 0, shape: tuple[int, int] = SHAPE) -> dict[str, np.ndarray]:
    """Random predictions and ground truth with every kind of invalid pixel."""
    rng = np.random.default_rng(seed)
    out = {"pred_depth": rng.uniform(0.2, 5, shape).astype(np.float32),
           "gt_depth": rng.uniform(0.2, 5, shape).astype(np.float32),
           "pred_normals": rng.normal(size=(*shape, 3)).astype(np.float32),
           "gt_normals": rng.normal(size=(*shape, 3)).astype(np.float32),
           "pred_labels": rng.integers(0, 12, shape).astype(np.uint8),
           "gt_labels": rng.integers(0, 12, shape).astype(np.uint8)}
    out["gt_depth"][0, :5] = np.nan  # invalid ground truth
    out["gt_depth"][1, :3] = 0.0
    out["pred_depth"][2, :4] = -1.0  # never within a threshold
    out["pred_depth"][3, :2] = np.inf
    out["gt_normals"][0, :3] = 0.0  # no direction
    out["pred_normals"][1, :2] = np.nan
    out["gt_labels"][4] = 255  # ignored
    out["pred_labels"][5, :7] = 200  # predicted id out of range: wrong, no class
    return out


def device_frames(m: dict[str, np.ndarray], median_scaling: bool = False,
                  num_classes: int = 150) -> dict:
    """Score ``m`` on the device path: ``frame_reduction`` of its ground truth."""
    reduce = frame_reduction({"depth": m["gt_depth"], "normals": m["gt_normals"],
                              "segmentation": m["gt_labels"]}, median_scaling, num_classes)
    outputs = {"depth": m["pred_depth"], "normals": m["pred_normals"],
               "class_ids": m["pred_labels"]}
    sums = reduce({name: torch.from_numpy(array) for name, array in outputs.items()})
    return frame_sums({name: t.numpy() for name, t in sums.items()}, num_classes)


def assert_depth(device: DepthFrame, host: DepthFrame, rel: float, counts: int = 0) -> None:
    assert device.count == host.count
    assert device.abs_rel == pytest.approx(host.abs_rel, rel=rel)
    assert device.sq_err == pytest.approx(host.sq_err, rel=rel)
    assert device.scale == pytest.approx(host.scale, rel=rel)
    assert np.abs(np.subtract(device.deltas, host.deltas)).max() <= counts


def assert_normals(device: NormalFrame, host: NormalFrame, rel: float, counts: int = 0) -> None:
    assert device.count == host.count
    assert device.angle_sum == pytest.approx(host.angle_sum, rel=rel)
    assert np.abs(np.subtract(device.within, host.within)).max() <= counts
    assert np.abs(device.histogram - host.histogram).sum() <= 2 * counts


def assert_segmentation(device: SegmentationFrame, host: SegmentationFrame) -> None:
    for name in ("intersection", "pred_area", "gt_area", "correct", "count"):
        np.testing.assert_array_equal(getattr(device, name), getattr(host, name), name)


@pytest.mark.parametrize("median_scaling", [False, True])
def test_frame_sums_equal_the_numpy_reference(median_scaling: bool):
    for seed in range(3):
        m = maps(seed)
        device = device_frames(m, median_scaling=median_scaling)
        assert_depth(device["depth"], DepthFrame.of(m["pred_depth"], m["gt_depth"], None,
                                                    median_scaling), rel=1e-12)
        assert_normals(device["normals"], NormalFrame.of(m["pred_normals"], m["gt_normals"]),
                       rel=1e-12)
        assert_segmentation(device["segmentation"],
                            SegmentationFrame.of(m["pred_labels"], m["gt_labels"]))
    assert device["depth"].count == SHAPE[0] * SHAPE[1] - 5 - 3 - 2  # -1 m counts, wrong
    assert (device["depth"].scale != 1.0) == median_scaling


@pytest.mark.parametrize("pred_shape", [(24, 32), (37, 50), (96, 128)])
def test_a_prediction_of_another_size_is_resized_as_on_the_host(pred_shape: tuple[int, int]):
    m = maps(1)
    small = maps(2, pred_shape)
    for key in ("pred_depth", "pred_normals", "pred_labels"):  # finite: a NaN spreads its own
        m[key] = np.nan_to_num(small[key], posinf=9.0)           # way in each resize
    device = device_frames(m)
    pixels = SHAPE[0] * SHAPE[1]
    assert_depth(device["depth"], DepthFrame.of(resize(m["pred_depth"], SHAPE, False),
                                                m["gt_depth"]), rel=1e-5,
                 counts=int(0.005 * pixels))
    assert_normals(device["normals"], NormalFrame.of(resize(m["pred_normals"], SHAPE, False),
                                                     m["gt_normals"]), rel=1e-5,
                   counts=int(0.005 * pixels))
    assert_segmentation(device["segmentation"],
                        SegmentationFrame.of(resize(m["pred_labels"], SHAPE, True),
                                             m["gt_labels"]))


def test_16_bit_label_ground_truth_is_scored_as_on_the_host():
    m = maps(3)
    m["gt_labels"] = m["gt_labels"].astype(np.uint16)
    m["gt_labels"][6, :9] = 300  # > 255: a dataset of more classes
    m["pred_labels"] = m["pred_labels"].astype(np.int32)
    device = device_frames(m, num_classes=400)
    assert_segmentation(device["segmentation"], SegmentationFrame.of(
        m["pred_labels"], m["gt_labels"], num_classes=400))
    assert device["segmentation"].gt_area[300] == 9


def test_ground_truth_ids_out_of_range_are_the_host_error():
    m = maps()
    m["gt_labels"][0, 0] = 20
    with pytest.raises(ValueError) as host:
        SegmentationFrame.of(m["pred_labels"], m["gt_labels"], num_classes=12)
    with pytest.raises(ValueError) as device:
        device_frames(m, num_classes=12)
    assert str(device.value) == str(host.value) == "ground-truth ids must be in 0..11 or 255"


def test_engine_reductions_come_back_with_their_images_outputs(tiny_engine: Engine):
    images = [next(render_sequence(1, 64, 48, seed=s)).rgb for s in range(2)]
    images.insert(1, next(render_sequence(1, 80, 56)).rgb)  # another size: its own group
    truth = [maps(s, image.shape[:2]) for s, image in enumerate(images)]
    reductions = [frame_reduction({"depth": t["gt_depth"], "normals": t["gt_normals"],
                                   "segmentation": t["gt_labels"]}) for t in truth]
    reductions[1] = None
    heads = ("depth", "normals", "segmentation")
    plain = tiny_engine.infer(images, heads)
    reduced = tiny_engine.infer(images, heads, reductions)
    assert reduced[1].reductions == {}
    for index in (0, 2):
        pred, t = reduced[index], truth[index]
        np.testing.assert_array_equal(pred.depth, plain[index].depth)  # outputs untouched
        device = frame_sums(pred.reductions)
        assert_depth(device["depth"], DepthFrame.of(pred.depth, t["gt_depth"]), rel=1e-12)
        assert_normals(device["normals"], NormalFrame.of(pred.normals, t["gt_normals"]),
                       rel=1e-12)
        assert_segmentation(device["segmentation"],
                            SegmentationFrame.of(pred.class_ids, t["gt_labels"]))


def test_replay_scores_early_ground_truth_on_the_device_and_late_on_the_host(
        tiny_engine: Engine, tmp_path: Path):
    """Score late ground truth on the host, the rest on the device, as numpy would.

    Frames whose ground truth is logged after the next image are scored on the host; the
    bag's metrics equal the numpy reference over the engine's own predictions.
    """
    frames_ = list(render_sequence(6, 64, 48))
    late = {1, 4}  # these frames' ground truth is logged after the next frame's image
    with BagWriter(tmp_path / "in") as bag:
        for index, frame in enumerate(frames_):
            bag.write_image("/cam/image", frame.stamp_ns, SYNTH_FRAME_ID,
                            encode_image(frame.rgb, "rgb8"))
            log = frames_[index + 1].stamp_ns + 1 if index in late else frame.stamp_ns
            sec, nanosec = divmod(frame.stamp_ns, 1_000_000_000)
            for topic, encoded in (("/gt/depth", encode_image(frame.depth, "32FC1")),
                                   ("/gt/normals", encode_image(frame.normals, "32FC3")),
                                   ("/gt/labels", encode_image(frame.labels, "mono8"))):
                bag.write_serialized(topic, IMAGE_MSGTYPE, log,
                                     image_parts(sec, nanosec, SYNTH_FRAME_ID, encoded))
    run = RunOptions(image_topic="/cam/image", gt_depth_topic="/gt/depth",
                     gt_normals_topic="/gt/normals", gt_labels_topic="/gt/labels",
                     heads={"depth", "normals", "segmentation"})
    report = replay(ReplayOptions(tmp_path / "in", tmp_path / "out", run), tiny_engine)
    tasks = ("depth", "normals", "segmentation")
    assert report["frames_scored"] == {task: len(frames_) for task in tasks}
    assert report["frames_scored_on_device"] == {task: len(frames_) - len(late)
                                                 for task in tasks}
    reference = MetricsAccumulator(num_classes=len(tiny_engine.class_names))
    for frame in frames_:
        pred = tiny_engine.infer([frame.rgb], run.selected_heads())[0]
        reference.add_depth(pred.depth, frame.depth)
        reference.add_normals(pred.normals, frame.normals)
        reference.add_segmentation(pred.class_ids, frame.labels)
    expected = reference.report()
    for task, values in expected.items():
        for name, value in values.items():
            if isinstance(value, dict):  # per_class_iou: JSON keys
                value = {str(key): item for key, item in value.items()}
            assert report["metrics"][task][name] == pytest.approx(value, rel=1e-9), name
