# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Tests for tips_ros.engine.colors: known colours, invalid values, shapes, batch consistency."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from tips_ros.engine.ade20k import label_palette
from tips_ros.engine.colors import (
    ade20k_palette,
    colorize_labels,
    colorize_normals,
    depth_lut,
    overlay_heatmaps,
)

NAN = math.nan


def assert_rgb_uint8(image: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert image.shape == shape + (3,)
    assert image.dtype == torch.uint8 and image.is_contiguous()


def test_depth_lut_is_opencv_turbo():
    lut = depth_lut()
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 256)
    bgr = cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO)[0]
    np.testing.assert_array_equal(lut, bgr[:, ::-1])
    np.testing.assert_array_equal(lut[[0, 255]], [[48, 18, 59], [122, 4, 3]])  # Google's ends
    lut[:] = 0  # the caller's copy; the module's table is unaffected
    assert depth_lut().any()


def test_colorize_normals_known_values():
    normals = torch.tensor(
        [[[[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [NAN, 0.0, 1.0]]]]
    )
    out = colorize_normals(normals)
    assert_rgb_uint8(out, (1, 1, 4))
    np.testing.assert_array_equal(
        out[0, 0].numpy(), [[128, 128, 0], [255, 128, 128], [128, 0, 128], [0, 0, 0]]
    )


def test_colorize_labels_palette_and_out_of_range():
    labels = torch.tensor([[[0, 1, 149, 150, -1, 255]]])
    out = colorize_labels(labels)
    assert_rgb_uint8(out, (1, 1, 6))
    palette = label_palette(150)
    np.testing.assert_array_equal(
        out[0, 0].numpy(), np.stack([palette[0], palette[1], palette[149]] + [[0, 0, 0]] * 3)
    )
    np.testing.assert_array_equal(ade20k_palette().numpy(), palette)


def test_colorize_labels_custom_palette():
    palette = torch.tensor([[10, 20, 30], [40, 50, 60]], dtype=torch.uint8)
    out = colorize_labels(torch.tensor([[[1, 0], [2, 1]]], dtype=torch.uint8), palette)
    np.testing.assert_array_equal(
        out[0].numpy(), [[[40, 50, 60], [10, 20, 30]], [[0, 0, 0], [40, 50, 60]]]
    )


def test_overlay_single_query_tints_only_similar_pixels():
    rgb = torch.full((1, 2, 2, 3), 100, dtype=torch.uint8)
    heat = torch.tensor([[[[0.1, 0.2], [0.2, 0.3]]]])  # one query, pixel (1,1) best, (0,0) worst
    palette = torch.tensor([[200, 0, 0]], dtype=torch.uint8)
    out = overlay_heatmaps(rgb, heat, alpha=0.5, palette=palette)
    assert_rgb_uint8(out, (1, 2, 2))
    np.testing.assert_array_equal(out[0, 0, 0].numpy(), [100, 100, 100])  # s = 0: plain image
    np.testing.assert_array_equal(out[0, 1, 1].numpy(), [150, 50, 50])  # s = 1: half colour
    np.testing.assert_array_equal(out[0, 0, 1].numpy(), [125, 75, 75])  # s = 0.5


def test_overlay_picks_strongest_query_per_pixel():
    rgb = torch.zeros((1, 1, 2, 3), dtype=torch.uint8)
    # query 0 peaks at pixel 0, query 1 at pixel 1 (on a different raw scale).
    heat = torch.tensor([[[[0.9, 0.1]], [[0.20, 0.25]]]])
    palette = torch.tensor([[255, 0, 0], [0, 0, 255]], dtype=torch.uint8)
    out = overlay_heatmaps(rgb, heat, alpha=1.0, palette=palette)
    np.testing.assert_array_equal(out[0, 0].numpy(), [[255, 0, 0], [0, 0, 255]])


def test_overlay_default_palette_resize_and_edge_cases():
    rgb = torch.randint(0, 256, (2, 8, 6, 3), dtype=torch.uint8)
    heat = torch.rand(2, 3, 4, 3)
    out = overlay_heatmaps(rgb, heat)
    assert_rgb_uint8(out, (2, 8, 6))
    assert torch.equal(overlay_heatmaps(rgb, heat, alpha=0.0), rgb)
    assert torch.equal(overlay_heatmaps(rgb, torch.zeros(2, 0, 4, 3)), rgb)
    assert torch.equal(overlay_heatmaps(rgb, torch.full((2, 2, 8, 6), NAN)), rgb)
    upsampled = torch.nn.functional.interpolate(heat, size=(8, 6), mode="bilinear")
    assert torch.equal(out, overlay_heatmaps(rgb, upsampled))
    hot = torch.zeros(1, 1, 2, 2)
    hot[0, 0, 1, 0] = 1.0
    tinted = overlay_heatmaps(torch.zeros(1, 2, 2, 3, dtype=torch.uint8), hot, alpha=1.0)
    np.testing.assert_array_equal(tinted[0, 1, 0].numpy(), label_palette(1)[0])
    assert not tinted[0, 0].any()


@pytest.mark.parametrize(
    "render",
    [
        lambda x: colorize_normals(x["normals"]),
        lambda x: colorize_labels(x["labels"]),
        lambda x: overlay_heatmaps(x["rgb"], x["heat"], alpha=0.6),
    ],
    ids=["normals", "labels", "heatmaps"],
)
def test_batch_equals_single_frames(render):
    generator = torch.Generator().manual_seed(0)
    normals = torch.randn(3, 5, 7, 3, generator=generator)
    batch = {
        "normals": normals / normals.norm(dim=-1, keepdim=True),
        "labels": torch.randint(-2, 160, (3, 5, 7), generator=generator),
        "rgb": torch.randint(0, 256, (3, 5, 7, 3), generator=generator, dtype=torch.uint8),
        "heat": torch.randn(3, 4, 5, 7, generator=generator),
    }
    whole = render(batch)
    assert_rgb_uint8(whole, (3, 5, 7))
    for index in range(3):
        single = render({key: value[index:index + 1] for key, value in batch.items()})
        assert torch.equal(whole[index:index + 1], single)
