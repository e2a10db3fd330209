# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Tests of tips_ros.offline.metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from tips_ros.offline.metrics import (
    MetricsAccumulator,
    depth_metrics,
    normal_metrics,
    segmentation_metrics,
)


def _random_depth(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 8.0, size=(12, 16)).astype(np.float32)


def _random_normals(seed: int = 0) -> np.ndarray:
    n = np.random.default_rng(seed).normal(size=(12, 16, 3))
    return (n / np.linalg.norm(n, axis=2, keepdims=True)).astype(np.float32)


def test_perfect_depth() -> None:
    gt = _random_depth()
    m = depth_metrics(gt.copy(), gt)
    assert m["abs_rel"] == 0.0 and m["rmse"] == 0.0
    assert m["delta1"] == m["delta2"] == m["delta3"] == 1.0
    assert m["pixels"] == gt.size and m["median_scaling"] is False


def test_double_depth_and_median_scaling() -> None:
    gt = _random_depth()
    m = depth_metrics(2 * gt, gt)
    assert m["abs_rel"] == pytest.approx(1.0)
    assert m["rmse"] == pytest.approx(float(np.sqrt(np.mean(gt.astype(np.float64) ** 2))))
    assert m["delta1"] == m["delta2"] == m["delta3"] == 0.0  # ratio 2 > 1.25**3 = 1.953
    scaled = depth_metrics(2 * gt, gt, median_scaling=True)
    assert scaled["median_scaling"] is True
    assert scaled["scale"] == pytest.approx(0.5)
    assert scaled["abs_rel"] == pytest.approx(0.0, abs=1e-7)
    assert scaled["delta1"] == 1.0


def test_depth_invalid_pixels_excluded() -> None:
    gt = np.array([[1.0, 2.0, np.nan, 0.0], [4.0, 1.0, 1.0, -1.0]], dtype=np.float32)
    pred = np.array([[1.0, 3.0, 5.0, 5.0], [np.nan, 1.0, 100.0, 5.0]], dtype=np.float32)
    valid = np.array([[True, True, True, True], [True, True, False, True]])
    m = depth_metrics(pred, gt, valid)
    # Counted pixels: (0,0) exact, (0,1) pred 3 vs gt 2, (1,1) exact.
    assert m["pixels"] == 3
    assert m["abs_rel"] == pytest.approx(0.5 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(1.0 / 3))
    assert m["delta1"] == pytest.approx(2 / 3)


def test_non_positive_prediction_never_within_threshold() -> None:
    gt = np.ones((2, 2), dtype=np.float32)
    m = depth_metrics(-gt, gt)
    assert m["delta3"] == 0.0 and m["abs_rel"] == pytest.approx(2.0)


def test_perfect_normals() -> None:
    n = _random_normals()
    m = normal_metrics(n.copy(), n)
    assert m["mean_deg"] == pytest.approx(0.0, abs=1e-3)
    assert m["median_deg"] == pytest.approx(0.0, abs=1e-3)
    assert m["within_11_25"] == 1.0


def _rotate_x(n: np.ndarray, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    r = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    return n @ r.T


def test_rotated_normals() -> None:
    # Vectors perpendicular to the rotation axis turn by exactly the rotation angle.
    rng = np.random.default_rng(1)
    angle = rng.uniform(0, 2 * np.pi, size=(10, 10))
    gt = np.stack([np.zeros_like(angle), np.cos(angle), np.sin(angle)], axis=2)
    for degrees, within in ((10.0, (1.0, 1.0, 1.0)), (25.0, (0.0, 0.0, 1.0))):
        m = normal_metrics(_rotate_x(gt, degrees), gt)
        assert m["mean_deg"] == pytest.approx(degrees, abs=1e-4)
        assert m["median_deg"] == pytest.approx(degrees, abs=1e-4)
        assert (m["within_11_25"], m["within_22_5"], m["within_30"]) == within


def test_normals_invalid_excluded_and_unnormalised_input() -> None:
    gt = np.zeros((1, 3, 3))
    gt[..., 2] = 1.0
    pred = np.array([[[0, 0, 5.0], [0, 1.0, 0], [0, 0, 0]]])  # 0 deg, 90 deg, zero vector
    m = normal_metrics(pred, gt)
    assert m["pixels"] == 2 and m["mean_deg"] == pytest.approx(45.0)
    m = normal_metrics(pred, gt, valid=np.array([[True, False, True]]))
    assert m["pixels"] == 1 and m["mean_deg"] == pytest.approx(0.0)


def test_segmentation_hand_computed() -> None:
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 0]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 7, 0]])
    m = segmentation_metrics(pred, gt, num_classes=5)
    # Counted 7 pixels (255 ignored); correct: (0,0) (0,2) (0,3) (1,0) (1,3) -> 5.
    assert m["pixels"] == 7 and m["pixel_acc"] == pytest.approx(5 / 7)
    # class 0: I=2 (0,0),(1,3); gt area 3, pred area 3 -> U=4.
    # class 1: I=2, U=3. class 2: I=1, U=2.
    assert m["per_class_iou"] == pytest.approx({0: 0.5, 1: 2 / 3, 2: 0.5})
    assert m["miou"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)


def test_segmentation_perfect_and_absent_classes() -> None:
    gt = np.array([[3, 3], [5, 0]], dtype=np.uint8)
    m = segmentation_metrics(gt.copy(), gt)
    assert m["miou"] == 1.0 and m["pixel_acc"] == 1.0 and m["classes_present"] == 3
    # A class only in the prediction is present (IoU 0) and lowers the mean.
    pred = gt.copy()
    pred[0, 0] = 7
    m = segmentation_metrics(pred, gt)
    assert m["per_class_iou"][7] == 0.0
    assert m["miou"] == pytest.approx((0.5 + 1 + 1 + 0) / 4)


def test_segmentation_rejects_out_of_range_gt() -> None:
    with pytest.raises(ValueError):
        segmentation_metrics(np.zeros((2, 2)), np.full((2, 2), 200), num_classes=150)


def test_accumulator_is_dataset_level() -> None:
    acc = MetricsAccumulator()
    # Frame 1: class 0 perfect on 3 pixels. Frame 2: class 0 predicted as 1 on 1 pixel.
    acc.add_segmentation(np.zeros((1, 3)), np.zeros((1, 3)))
    acc.add_segmentation(np.ones((1, 1)), np.zeros((1, 1)))
    gt = _random_depth()
    acc.add_depth(gt, gt)  # 192 perfect pixels
    acc.add_depth(2 * gt[:1, :4], gt[:1, :4])  # 4 pixels with abs_rel 1
    n = _random_normals()
    acc.add_normals(n, n)
    acc.add_normals(-n[:1], n[:1])  # 16 pixels at 180 degrees
    report = acc.report()
    seg = report["segmentation"]
    # Summed: class 0 I=3, U=4; class 1 I=0, U=1. A mean of per-frame mIoUs would give 0.5.
    assert seg["per_class_iou"] == pytest.approx({0: 0.75, 1: 0.0})
    assert seg["pixel_acc"] == pytest.approx(0.75)
    depth = report["depth"]
    assert depth["pixels"] == 196 and depth["abs_rel"] == pytest.approx(4 / 196)
    normals = report["normals"]
    assert normals["pixels"] == 192 + 16
    assert normals["within_30"] == pytest.approx(192 / 208)
    assert normals["median_deg"] == pytest.approx(0.0, abs=0.01)


def test_accumulator_reports_only_added_tasks() -> None:
    acc = MetricsAccumulator()
    assert acc.report() == {}
    gt = _random_depth()
    acc.add_depth(gt, gt)
    assert set(acc.report()) == {"depth"}


def _reference_sums(pred_d, gt_d, pred_n, gt_n) -> tuple[float, float, list[int], float]:
    """Depth and normal sums by the documented formulas, masked float64 arrays, row-wise."""
    p, g = pred_d.astype(np.float64), gt_d.astype(np.float64)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(g) & (g > 0) & np.isfinite(p)
    p, g = p[keep], g[keep]
    err = p - g
    ratio = np.full(p.shape, np.inf)
    ratio[p > 0] = np.maximum(p[p > 0] / g[p > 0], g[p > 0] / p[p > 0])
    deltas = [int(np.count_nonzero(ratio < t)) for t in (1.25, 1.25**2, 1.25**3)]
    a, b = pred_n.astype(np.float64), gt_n.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=2), np.linalg.norm(b, axis=2)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(na) & np.isfinite(nb) & (na > 0) & (nb > 0)
    cos = np.sum(a[ok] * b[ok], axis=1) / (na[ok] * nb[ok])
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return float(np.sum(np.abs(err) / g)), float(np.sum(err * err)), deltas, float(angles.sum())


@pytest.mark.parametrize("damaged", [False, True])
def test_fast_paths_equal_the_formulas_bit_for_bit(damaged: bool) -> None:
    """The per-plane, selection-free arithmetic keeps every float sum exactly as specified."""
    rng = np.random.default_rng(7)
    gt_d = rng.uniform(0.5, 8.0, (48, 64)).astype(np.float32)
    pred_d = (gt_d * rng.uniform(0.5, 1.5, gt_d.shape)).astype(np.float32)
    gt_n, pred_n = _random_normals(1), _random_normals(2)
    gt_n, pred_n = np.tile(gt_n, (4, 4, 1)), np.tile(pred_n, (4, 4, 1))
    if damaged:
        pred_d[0, :5], gt_d[1, :3], pred_d[2, :4] = np.nan, 0.0, -1.0
        pred_n[0, :5], gt_n[1, :3] = np.nan, 0.0
    acc = MetricsAccumulator()
    acc.add_depth(pred_d, gt_d)
    acc.add_normals(pred_n, gt_n)
    abs_rel, sq_err, deltas, angle_sum = _reference_sums(pred_d, gt_d, pred_n, gt_n)
    assert float(acc.depth.abs_rel_sum) == abs_rel and float(acc.depth.sq_err_sum) == sq_err
    assert acc.depth.delta_counts == deltas
    assert float(acc.normals.angle_sum) == angle_sum
