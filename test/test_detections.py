# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Text-query detections from heatmaps whose regions are known (tips_ros.io.detections)."""

from __future__ import annotations

import numpy as np
import pytest

from tips_ros.io.detections import find_detections

K = np.array([[400.0, 0, 79.5], [0, 420.0, 59.5], [0, 0, 1]])


def heatmap_with_regions(shape=(120, 160)) -> np.ndarray:
    """Two queries: 'door' has two regions (peaks 0.9 and 0.6), 'cat' stays below 0.5."""
    heat = np.full((*shape, 2), 0.1, np.float32)
    heat[20:51, 30:71, 0] = 0.55  # rows 20..50, columns 30..70
    heat[35, 50, 0] = 0.9
    heat[90:101, 120:126, 0] = 0.6
    heat[..., 1] = np.linspace(-0.2, 0.45, shape[1])[None, :]
    heat[0, 0, 1] = np.nan  # NaN never passes
    return heat


def test_regions_become_boxes_with_their_peak_scores():
    heat = heatmap_with_regions()
    found = find_detections(heat, ["door", "cat"], 0.5)
    assert [d.query for d in found] == ["door", "door"]
    first, second = found
    assert first.score == pytest.approx(0.9) and second.score == pytest.approx(0.6)
    # pixel centres at integer coordinates: columns 30..70 -> centre 50, width 41
    assert first.center == (50.0, 35.0) and first.size == (41.0, 31.0)
    assert second.center == (122.5, 95.0) and second.size == (6.0, 11.0)
    assert first.box_3d is None  # no depth given
    assert find_detections(heat, ["door", "cat"], 0.95) == []  # nothing above the threshold
    assert find_detections(heat[..., :0], [], 0.5) == []


@pytest.mark.parametrize("slope", [0.0, 0.01])
def test_3d_box_centre_is_the_back_projected_region(slope):
    """Planar depth: the 3D centre is the region's centre pixel back-projected (within 1 %)."""
    height, width = 120, 160
    v, u = np.mgrid[0:height, 0:width]
    depth = (2.5 + slope * (u - 50)).astype(np.float32)  # flat, or a plane tilted in x
    depth[22, 32] = np.nan  # invalid pixels of the region are left out
    depth[24, 34] = 0.0
    heat = heatmap_with_regions()
    door, _ = find_detections(heat, ["door", "cat"], 0.5, depth, K)
    (cat,) = [d for d in find_detections(heat, ["door", "cat"], 0.4, depth, K)
              if d.query == "cat"]
    z = 2.5  # the region's centre column is u = 50
    expected = np.array([(50 - K[0, 2]) / K[0, 0] * z, (35 - K[1, 2]) / K[1, 1] * z, z])
    np.testing.assert_allclose(door.box_3d.center, expected, rtol=0.01, atol=0.01 * z)
    # size: 90 % of the region's extent (percentiles 5..95), in metres
    if slope == 0:
        assert door.box_3d.size[0] == pytest.approx(0.9 * 40 / K[0, 0] * z, rel=0.05)
        assert door.box_3d.size[1] == pytest.approx(0.9 * 30 / K[1, 1] * z, rel=0.05)
    assert door.box_3d.size[2] == pytest.approx(0.9 * 40 * slope, rel=0.05, abs=1e-6)
    assert cat.query == "cat" and cat.box_3d is not None


def test_region_without_valid_depth_has_no_3d_box():
    heat = heatmap_with_regions()
    depth = np.full(heat.shape[:2], np.nan, np.float32)
    found = find_detections(heat, ["door", "cat"], 0.5, depth, K)
    assert len(found) == 2 and all(d.box_3d is None for d in found)


def test_a_constructed_query_embedding_fires_one_region(tiny_engine):
    """Query embedding = one patch token: that patch's cosine is 1, every other one lower.

    The engine's own pass (public steps, the embedding given as ``text``) makes the heatmap
    and depth; the expected region is computed independently: bilinear upsampling of the
    patch cosines, thresholded halfway between 1 and the second-best patch.
    """
    import torch
    import torch.nn.functional as F
    from sample_images import random_image

    height, width = 90, 120
    image = random_image(height, width, seed=3)
    side = tiny_engine.config.input_size
    grid = (side // tiny_engine.patch_size,) * 2
    with torch.inference_mode():
        pixels = tiny_engine.preprocess([image], (side, side))
        tokens = tiny_engine.backbone(pixels)[-1][0, 1 + tiny_engine.num_registers:].float()
        patch = (grid[0] // 2) * grid[1] + grid[1] // 3
        text = F.normalize(tokens[patch], dim=0)[None]
        raw = tiny_engine.raw_heads(pixels, grid, {"heatmaps", "depth"}, text=text)
        outputs = tiny_engine.postprocess(raw, tiny_engine.upload([image]),
                                          {"heatmaps", "depth"})
        (pred,) = tiny_engine.download(outputs, ("door",))
        cosine = raw["heatmaps"].float()
    second = cosine.flatten().sort().values[-2].item()
    assert cosine.flatten()[patch].item() == pytest.approx(1.0, abs=1e-4) and second < 0.999
    threshold = (1.0 + second) / 2
    expected = F.interpolate(cosine, size=(height, width), mode="bilinear",
                             align_corners=False)[0, 0].numpy() > threshold
    rows, cols = np.nonzero(expected)
    (found,) = find_detections(pred.heatmaps, pred.queries, threshold, pred.depth, K)
    assert found.query == "door" and threshold < found.score <= 1.0 + 1e-4
    np.testing.assert_allclose(found.center, ((cols.min() + cols.max()) / 2,
                                              (rows.min() + rows.max()) / 2), atol=1.0)
    np.testing.assert_allclose(found.size, (cols.max() - cols.min() + 1,
                                            rows.max() - rows.min() + 1), atol=1.0)
    region_depth = pred.depth[expected]
    assert region_depth.min() <= found.box_3d.center[2] <= region_depth.max()
    assert find_detections(pred.heatmaps, pred.queries, found.score + 1e-3) == []


def _per_region_reference(heatmaps, queries, threshold, depth, k):
    """Compute the documented result region by region: mask, peak, nearest-rank percentiles."""
    import cv2

    out = []
    for channel, query in enumerate(queries):
        mask = (heatmaps[..., channel] > threshold).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for label in range(1, count):
            rows, cols = np.nonzero(labels == label)
            score = float(heatmaps[rows, cols, channel].max())
            z = depth[rows, cols].astype(np.float64)
            ok = np.isfinite(z) & (z > 0)
            box = None
            if ok.any():
                z, r, c = z[ok], rows[ok], cols[ok]
                points = np.stack([(c - k[0, 2]) / k[0, 0] * z, (r - k[1, 2]) / k[1, 1] * z, z])
                ranks = [round(p / 100 * (z.size - 1)) for p in (5.0, 95.0)]
                low, high = np.sort(points, axis=1)[:, ranks].T
                box = (tuple((low + high) / 2), tuple(high - low))
            u0, v0, w, h = (int(s) for s in stats[label, :4])
            out.append((query, score, (u0 + (w - 1) / 2, v0 + (h - 1) / 2), (w, h), box))
    return out


def test_many_noisy_regions_equal_the_region_by_region_result():
    """A random-weights heatmap has hundreds of small regions: the array code, exactly."""
    rng = np.random.default_rng(3)
    heat = rng.normal(0.0, 0.15, (90, 120, 3)).astype(np.float32)
    depth = rng.uniform(0.5, 6.0, (90, 120)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = np.nan
    depth[:10, :10] = np.nan  # a region may have no valid pixel
    heat[:3, :3, 0] = 0.9
    found = find_detections(heat, ["a", "b", "c"], 0.2, depth, K)
    expected = _per_region_reference(heat, ["a", "b", "c"], 0.2, depth, K)
    assert len(found) == len(expected) > 100
    for got, (query, score, center, size, box) in zip(found, expected):
        assert (got.query, got.score, got.center, got.size) == (query, score, center, size)
        assert (None if got.box_3d is None else (got.box_3d.center, got.box_3d.size)) == box
    assert any(d.box_3d is None for d in found)
