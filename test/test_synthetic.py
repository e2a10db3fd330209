# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Tests of the synthetic renderer's ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from tips_ros.engine.ade20k import CLASS_ID
from tips_ros.offline.synthetic import CAMERA_HEIGHT, SynthFrame, render_sequence

W, H = 64, 48


@pytest.fixture(scope="module")
def frames() -> list[SynthFrame]:
    return list(render_sequence(8, W, H, seed=3))


def test_shapes_types_and_stamps(frames: list[SynthFrame]) -> None:
    assert len(frames) == 8
    f = frames[0]
    assert f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8
    assert f.depth.shape == (H, W) and f.depth.dtype == np.float32
    assert f.normals.shape == (H, W, 3) and f.normals.dtype == np.float32
    assert f.labels.shape == (H, W) and f.labels.dtype == np.uint8
    assert f.K.shape == (3, 3)
    assert f.K[0, 2] == (W - 1) / 2 and f.K[1, 2] == (H - 1) / 2
    stamps = [x.stamp_ns for x in frames]
    assert np.all(np.diff(stamps) == 100_000_000)  # 10 fps


def test_determinism() -> None:
    a = list(render_sequence(3, W, H, seed=5))
    b = list(render_sequence(3, W, H, seed=5))
    c = list(render_sequence(3, W, H, seed=6))
    for x, y in zip(a, b):
        for name in ("rgb", "depth", "normals", "labels"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
    assert not np.array_equal(a[0].rgb, c[0].rgb)
    assert not np.array_equal(a[0].depth, c[0].depth)


def test_depth_range_and_unit_normals(frames: list[SynthFrame]) -> None:
    for f in frames:
        assert np.all(np.isfinite(f.depth))  # closed room: every ray hits
        assert 0.5 < f.depth.min() and f.depth.max() < 8.0
        np.testing.assert_allclose(np.linalg.norm(f.normals, axis=2), 1.0, atol=1e-5)


def test_normals_face_the_camera(frames: list[SynthFrame]) -> None:
    f = frames[0]
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    rays = np.stack([(u - f.K[0, 2]) / f.K[0, 0], (v - f.K[1, 2]) / f.K[1, 1], np.ones((H, W))], 2)
    assert np.all(np.sum(rays * f.normals, axis=2) < 0)


def _backproject(f: SynthFrame) -> np.ndarray:
    """HxWx3 points in the optical frame from z-depth and K (integer pixel centres)."""
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    z = f.depth.astype(np.float64)
    return np.stack([(u - f.K[0, 2]) / f.K[0, 0] * z, (v - f.K[1, 2]) / f.K[1, 1] * z, z], 2)


def test_floor_and_ceiling_geometry(frames: list[SynthFrame]) -> None:
    checked = 0
    for f in frames:
        points = _backproject(f)
        floor = f.labels == CLASS_ID["floor"]
        ceiling = f.labels == CLASS_ID["ceiling"]
        if floor.any():
            # Level camera: optical y points down, so the floor lies CAMERA_HEIGHT below (+y).
            np.testing.assert_allclose(points[floor][:, 1], CAMERA_HEIGHT, atol=1e-4)
            assert np.abs(f.normals[floor] - [0, -1, 0]).max() < 1e-6
            checked += 1
        if ceiling.any():
            assert np.abs(f.normals[ceiling] - [0, 1, 0]).max() < 1e-6
    assert checked > 0


def test_depth_matches_normals_on_planes(frames: list[SynthFrame]) -> None:
    # On every planar surface, n . X is constant (minus the plane's distance): check walls.
    f = frames[0]
    points = _backproject(f)
    walls = f.labels == CLASS_ID["wall"]
    offsets = np.sum(points[walls] * f.normals[walls], axis=1)
    normals = np.round(f.normals[walls], 4)
    for n in np.unique(normals, axis=0):
        same = np.all(normals == n, axis=1)
        assert np.ptp(offsets[same]) < 1e-4


def test_labels_and_texture(frames: list[SynthFrame]) -> None:
    seen = set()
    for f in frames:
        seen |= set(np.unique(f.labels).tolist())
        assert f.rgb.std() > 10.0
    assert {CLASS_ID["wall"], CLASS_ID["floor"], CLASS_ID["ceiling"]} <= seen
    assert seen <= {CLASS_ID[n] for n in ("wall", "floor", "ceiling", "table", "cabinet", "box",
                                          "ball")}


def test_all_object_classes_appear_over_a_loop() -> None:
    seen = set()
    for f in render_sequence(16, 48, 36, seed=0):
        seen |= set(np.unique(f.labels).tolist())
    assert {CLASS_ID["table"], CLASS_ID["cabinet"], CLASS_ID["ball"]} <= seen
