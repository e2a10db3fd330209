# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Draw docs/images/nav2_outputs.png: the outputs the Nav2 semantic layer and planners read.

One synthetic frame (``tips_ros.offline.synthetic``) through the engine on random tiny weights
(the picture shows the wiring, not the model): the ``segmentation/confidence`` image, the
organised ``points`` cloud seen from above coloured by label, and the ``detections`` of two
queries drawn on the image, built with the same functions the node publishes from.

    python scripts/nav2_picture.py docs/images/nav2_outputs.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.ade20k import label_palette
from tips_ros.engine.testmodel import write_test_models
from tips_ros.io.detections import find_detections
from tips_ros.io.outputs import point_cloud
from tips_ros.offline.synthetic import render_sequence

QUERIES = ("door", "a red box")
HEADS = {"depth", "segmentation", "segmentation_confidence", "heatmaps"}


def main(out: str) -> None:
    """Render the picture to ``out`` (PNG)."""
    frame = next(iter(render_sequence(1, 320, 240)))
    with tempfile.TemporaryDirectory() as models:
        dpt, text = write_test_models(models, "tiny")
        engine = Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                                     precision="fp32"))
        engine.set_queries(QUERIES)
        (pred,) = engine.infer([frame.rgb], HEADS)
    # random weights have no calibrated cosine: the top 1 % of the heatmaps fires; the six
    # best-scored regions are drawn
    threshold = float(np.quantile(pred.heatmaps, 0.99))
    found = find_detections(pred.heatmaps, pred.queries, threshold, pred.depth, frame.K)
    best = sorted(found, key=lambda d: -d.score)[:6]
    cloud = point_cloud(pred.depth, frame.K, frame.rgb, pred.class_ids).data
    figure = Figure(figsize=(12, 3.6))
    axes = figure.subplots(1, 3)
    axes[0].imshow(pred.confidence, cmap="gray", vmin=0, vmax=255)
    axes[0].set_title("segmentation/confidence (mono8)")
    colours = label_palette(len(engine.class_names))[cloud["label"]] / 255.0
    axes[1].scatter(cloud["x"][::3], cloud["z"][::3], c=colours[::3], s=0.3)
    axes[1].set(title="points: organised, coloured by label", xlabel="x (m)", ylabel="z (m)")
    drawn = frame.rgb.copy()
    for detection in best:
        (cx, cy), (w, h) = detection.center, detection.size
        top_left = (round(cx - (w - 1) / 2), round(cy - (h - 1) / 2))
        bottom_right = (round(cx + (w - 1) / 2), round(cy + (h - 1) / 2))
        cv2.rectangle(drawn, top_left, bottom_right, (255, 255, 0), 1)
        cv2.putText(drawn, f"{detection.query} {detection.score:.2f}", top_left,
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
    axes[2].imshow(drawn)
    axes[2].set_title(f"detections: best 6 of {len(found)} ({', '.join(QUERIES)})")
    for axis in (axes[0], axes[2]):
        axis.axis("off")
    figure.suptitle("random weights: shows the wiring, not the model", fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=80)
    print(f"{out}: {Path(out).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/images/nav2_outputs.png")
