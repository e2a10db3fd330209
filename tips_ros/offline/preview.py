# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``--preview`` pictures: a grid of a few frames and what the model made of them (matplotlib).

Rows are frames; columns are the input image, depth (the Turbo colour map,
``colors.depth_lut``, with a scale bar in metres), normals (``(n + 1) / 2`` colours, optical
frame), segmentation (the class palette, with a legend of the classes present) and one column
per text query (its similarity heatmap, titled with the query). Columns of heads that were
not run are left out. A ``note`` (e.g. :data:`RANDOM_WEIGHTS_NOTE`) is written in red above
the grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from tips_ros.engine.ade20k import label_palette  # noqa: E402
from tips_ros.engine.colors import depth_lut  # noqa: E402
from tips_ros.engine.prediction import Prediction  # noqa: E402

#: Most heatmap columns and legend entries drawn.
MAX_QUERIES = 4
MAX_LEGEND = 8
CELL_INCHES = (2.4, 2.0)
#: The note on pictures of random-weight models (``tips-ros make-test-model``, offline demo).
RANDOM_WEIGHTS_NOTE = "random weights: checks the pipeline, not the model"


def render_preview(rows: Sequence[tuple[np.ndarray, Prediction]], class_names: Sequence[str],
                   path: str | Path, dpi: int = 100, note: str | None = None) -> Path:
    """Draw ``rows`` of (input RGB ``HxWx3`` uint8, its Prediction) into a PNG at ``path``.

    ``class_names`` are the model's (segmentation ids index them). The depth scale is
    shared by all rows: the 2nd..98th percentile of the shown depths, in metres. ``note`` is
    written in bold red above the grid.
    """
    if not rows:
        raise ValueError("no frames to preview")
    first = rows[0][1]
    queries = list(first.queries[:MAX_QUERIES]) if first.heatmaps is not None else []
    columns = ["input"]
    columns += [name for name, attr in (("depth", "depth"), ("normals", "normals_color"),
                                        ("segmentation", "class_ids"))
                if getattr(first, attr) is not None]
    columns += [f"'{q}'" for q in queries]
    width, height = CELL_INCHES
    fig, axes = plt.subplots(len(rows), len(columns), squeeze=False,
                             figsize=(width * len(columns) + 1.2, height * len(rows)))
    depth_range = _depth_range([pred.depth for _, pred in rows if pred.depth is not None])
    palette = label_palette(len(class_names))
    for r, (rgb, pred) in enumerate(rows):
        cells = iter(axes[r])
        _image(next(cells), rgb, "input")
        if pred.depth is not None:
            _depth(fig, next(cells), pred.depth, depth_range)
        if pred.normals_color is not None:
            _image(next(cells), pred.normals_color, "normals")
        if pred.class_ids is not None:
            _segmentation(next(cells), pred.class_ids, class_names, palette)
        for q, query in enumerate(queries):
            _heatmap(fig, next(cells), pred.heatmaps[:, :, q], query)
    if note:
        fig.suptitle(note, color="red", fontsize=13, fontweight="bold")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _depth_range(depths: list[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([d[np.isfinite(d)].ravel() for d in depths]) if depths else []
    if len(values) == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, [2, 98])
    return float(low), float(max(high, low + 1e-3))


def _image(ax: plt.Axes, rgb: np.ndarray, title: str) -> None:
    ax.imshow(rgb)
    _style(ax, title)


def _depth(fig: plt.Figure, ax: plt.Axes, depth: np.ndarray, limits: tuple[float, float]) -> None:
    cmap = ListedColormap(depth_lut() / 255.0).with_extremes(bad="black")
    shown = ax.imshow(np.ma.masked_invalid(depth), cmap=cmap, vmin=limits[0], vmax=limits[1])
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02).set_label("m")
    _style(ax, "depth")


def _segmentation(ax: plt.Axes, ids: np.ndarray, class_names: Sequence[str],
                  palette: np.ndarray) -> None:
    ax.imshow(palette[np.minimum(ids, len(palette) - 1)])
    classes, counts = np.unique(ids, return_counts=True)
    top = classes[np.argsort(-counts)][:MAX_LEGEND]
    handles = [Patch(color=palette[c] / 255.0, label=class_names[c])
               for c in top if c < len(class_names)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6,
              frameon=False, handlelength=1.0, borderaxespad=0.0)
    _style(ax, "segmentation")


def _heatmap(fig: plt.Figure, ax: plt.Axes, scores: np.ndarray, query: str) -> None:
    shown = ax.imshow(scores, cmap="viridis")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    _style(ax, f"'{query}'")


def _style(ax: plt.Axes, title: str) -> None:
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
