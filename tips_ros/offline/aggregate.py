# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""One dataset report from many per-bag replay reports (``tips-ros evaluate``).

Every replay report carries its raw sums under ``accumulated`` (the metrics accumulator's
``state()``, the per-frame latencies in ms and the processing seconds). The aggregate merges
them, so its metrics are exactly those of one accumulator fed every frame of every complete
bag (``MetricsAccumulator.merge``), not means of per-bag means, and its latency percentiles
are over all frames (per-frame values are kept, no histogram). Formulas: ``docs/replay.md``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tips_ros.offline.metrics import ANGLE_BIN_DEG, MetricsAccumulator
from tips_ros.offline.report import format_table, json_safe

#: Bag statuses: ``ok`` (replayed now), ``skipped`` (complete from an earlier run),
#: ``failed`` (with a reason), ``interrupted`` (running at Ctrl-C), ``not_run`` (queued).
STATUSES = ("ok", "skipped", "failed", "interrupted", "not_run")
#: Statuses whose bags count in the metrics and latencies.
COMPLETE = ("ok", "skipped")
#: Headline metric of each task in the per-bag rows and the summary picture.
HEADLINE = {"depth": "abs_rel", "normals": "mean_deg", "segmentation": "miou"}


@dataclass
class BagResult:
    """The outcome of one input bag."""

    bag: str
    key: str
    status: str
    reason: str | None = None
    attempts: int = 0
    report: dict[str, Any] | None = None


def bag_row(result: BagResult) -> dict[str, Any]:
    """Return the aggregate's row of one bag (counts 0 when it has no report)."""
    report = result.report or {}
    metrics = report.get("metrics") or {}
    return {
        "bag": result.bag, "output": result.key, "status": result.status,
        "reason": result.reason, "attempts": result.attempts,
        "frames_in": report.get("frames_in", 0), "frames_out": report.get("frames_out", 0),
        "frames_failed": report.get("frames_failed", 0), "fps": report.get("fps"),
        "metrics": {task: metrics[task][key] for task, key in HEADLINE.items()
                    if task in metrics},
    }


def aggregate(results: list[BagResult], processing_wall_s: float | None,
              run: dict[str, Any]) -> dict[str, Any]:
    """Return the dataset report: per-bag rows, totals, speed, latency, merged metrics.

    ``processing_wall_s`` is the wall time from the first bag handed out to the last result
    (model loading excluded); ``run`` holds run-level fields copied into the report.
    """
    complete = [r for r in results if r.status in COMPLETE and r.report]
    now = [r for r in results if r.status == "ok" and r.report]
    rows = [bag_row(r) for r in results]
    failures: Counter[str] = Counter()
    for result in results:
        failures.update((result.report or {}).get("failures", {}))
    latencies = np.asarray([v for r in complete for v in r.report["accumulated"]["latencies_ms"]],
                           dtype=np.float64)
    frames_now = sum(r.report["frames_out"] for r in now)
    processing_s = sum(r.report["accumulated"]["processing_s"] for r in now)
    first = next((r.report for r in complete + results if r.report), {})
    report = {
        "bags": rows,
        "totals": {
            "bags": len(rows),
            **{status: sum(row["status"] == status for row in rows) for status in STATUSES},
            **{name: sum(row[name] for row in rows)
               for name in ("frames_in", "frames_out", "frames_failed")},
        },
        "failed_bags": [{"bag": r.bag, "reason": r.reason} for r in results
                        if r.status == "failed"],
        "failures": dict(failures),
        "frames_out_this_run": frames_now,
        "fps": frames_now / processing_wall_s if frames_now and processing_wall_s else None,
        "engine_fps": frames_now / processing_s if frames_now and processing_s else None,
        "latency_ms": _percentiles(latencies),
        "metrics": merged_metrics(complete).report(),
        **{key: dict(sum((Counter(r.report.get(key, {})) for r in complete), Counter()))
           for key in ("frames_scored", "frames_scored_on_device")},
        "device": ", ".join(sorted({r.report["device"] for r in results if r.report})) or None,
        "precision": first.get("precision"), "batch": first.get("batch"),
        "model": first.get("model"), "processing_wall_s": processing_wall_s,
        **run,
    }
    return json_safe(report)


def merged_metrics(results: list[BagResult]) -> MetricsAccumulator:
    """Return the metrics accumulators of ``results``' reports merged into one (exact)."""
    merged: MetricsAccumulator | None = None
    for result in results:
        state = result.report["accumulated"]["metrics"]
        if state is None:
            continue
        acc = MetricsAccumulator.from_state(state)
        if merged is None:
            merged = acc
        else:
            merged.merge(acc)
    return merged or MetricsAccumulator()


def _percentiles(latencies: np.ndarray) -> dict[str, float | None]:
    if not latencies.size:
        return {"p50": None, "p90": None, "p99": None, "mean": None, "frames": 0}
    return {"p50": float(np.percentile(latencies, 50)), "p90": float(np.percentile(latencies, 90)),
            "p99": float(np.percentile(latencies, 99)), "mean": float(latencies.mean()),
            "frames": int(latencies.size)}


# ----------------------------------------------------------------------------- table
def format_summary(report: dict[str, Any]) -> str:
    """Return the printed table: one line per bag, totals, then the metrics' summary."""
    width = max([len(row["output"]) for row in report["bags"]] + [3])
    tasks = [t for t in HEADLINE if any(t in row["metrics"] for row in report["bags"])]
    lines = [f"{'bag':<{width}}  {'status':<11} {'tries':>5} {'in':>6} {'out':>6} "
             f"{'failed':>6} {'fps':>7}" + "".join(f" {HEADLINE[t]:>9}" for t in tasks)]
    for row in report["bags"]:
        cells = "".join(f" {_num(row['metrics'].get(t)):>9}" for t in tasks)
        lines.append(f"{row['output']:<{width}}  {row['status']:<11} {row['attempts']:>5} "
                     f"{row['frames_in']:>6} "
                     f"{row['frames_out']:>6} {row['frames_failed']:>6} {_num(row['fps']):>7}"
                     + cells)
    totals = report["totals"]
    lines.append("bags          " + "  ".join(f"{s} {totals[s]}" for s in STATUSES if totals[s])
                 + f"  (of {totals['bags']})")
    table = format_table({**report, **{k: totals[k] for k in
                                       ("frames_in", "frames_out", "frames_failed")},
                          "fps": report["fps"] or 0.0})
    lines.append(table)
    lines.append(f"engine        {_num(report['engine_fps'])} frames/s per worker, "
                 f"{report['workers']} worker(s) ({report['backend']})")
    for failed in report["failed_bags"]:
        lines.append(f"failed        {failed['bag']}: {failed['reason']}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


# ----------------------------------------------------------------------------- picture
def render_summary(report: dict[str, Any], merged: MetricsAccumulator, path: Path) -> None:
    """Write the summary picture, a PNG beside the report.

    Top row: each task's headline metric per bag (the dashed line is the value over all
    frames). Bottom row: frames per bag coloured by status, the normals' angular error
    distribution over all pixels, the per-class IoU over all frames.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in HEADLINE if t in report["metrics"]]
    columns = max(len(tasks), 3)
    fig, axes = plt.subplots(2, columns, figsize=(5 * columns, 8.5), squeeze=False)
    for index, ax in enumerate(axes[0]):
        if index < len(tasks):
            _per_bag_panel(ax, report, tasks[index])
        else:
            ax.set_axis_off()
    _frames_panel(axes[1][0], report)
    for ax, draw, acc in ((axes[1][1], _angle_panel, merged.normals),
                          (axes[1][2], _iou_panel, merged.segmentation)):
        if acc is None:
            ax.set_axis_off()
        else:
            draw(ax, merged)
    for ax in axes[1][3:]:
        ax.set_axis_off()
    totals = report["totals"]
    fig.suptitle(f"{totals['bags']} bags: " + ", ".join(
        f"{totals[s]} {s}" for s in STATUSES if totals[s]) +
        f"; {totals['frames_out']} frames out, {totals['frames_failed']} failed")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _frames_panel(ax: Any, report: dict[str, Any]) -> None:
    colours = {"ok": "tab:blue", "skipped": "tab:cyan", "failed": "tab:red",
               "interrupted": "tab:orange", "not_run": "tab:gray"}
    rows = report["bags"]
    ax.bar(range(len(rows)), [row["frames_out"] for row in rows],
           color=[colours[row["status"]] for row in rows])
    ax.bar(range(len(rows)), [row["frames_failed"] for row in rows],
           bottom=[row["frames_out"] for row in rows], color="black", label="frames failed")
    for status, colour in colours.items():
        if any(row["status"] == status for row in rows):
            ax.bar([0], [0], color=colour, label=status)
    ax.set_xticks(range(len(rows)), [row["output"] for row in rows], rotation=60, ha="right",
                  fontsize=7)
    _mark_incomplete(ax, rows)
    ax.set_title("frames out per bag, by bag status")
    ax.legend(fontsize=8)


def _mark_incomplete(ax: Any, rows: list[dict[str, Any]]) -> None:
    for index, row in enumerate(rows):
        if row["status"] not in COMPLETE:
            ax.annotate(row["status"], (index, 0), rotation=90, ha="center", va="bottom",
                        color="tab:red", fontsize=8)


def _per_bag_panel(ax: Any, report: dict[str, Any], task: str) -> None:
    rows = report["bags"]
    names = [row["output"] for row in rows]
    values = [row["metrics"].get(task) for row in rows]
    ax.bar(range(len(rows)), [v if v is not None else 0.0 for v in values], color="tab:blue")
    _mark_incomplete(ax, rows)
    overall = report["metrics"][task][HEADLINE[task]]
    if overall is not None:
        ax.axhline(overall, color="black", linestyle="--", label=f"all frames {overall:.4g}")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(rows)), names, rotation=60, ha="right", fontsize=7)
    ax.set_title(f"{task} {HEADLINE[task]} per bag")


def _angle_panel(ax: Any, merged: MetricsAccumulator) -> None:
    histogram = merged.normals.histogram
    per_degree = histogram.reshape(180, -1).sum(axis=1)  # ANGLE_BIN_DEG bins -> 1 degree
    ax.bar(np.arange(180) + 0.5, per_degree / max(int(histogram.sum()), 1), width=1.0,
           color="tab:green")
    mean = merged.normals.report()["mean_deg"]
    ax.axvline(mean, color="black", linestyle="--", label=f"mean {mean:.3g} deg")
    ax.set_xlabel(f"angular error (deg; {ANGLE_BIN_DEG} deg bins summed per degree)")
    ax.set_ylabel("fraction of pixels")
    ax.set_title("normals error, all frames")
    ax.legend(fontsize=8)


def _iou_panel(ax: Any, merged: MetricsAccumulator) -> None:
    from tips_ros.engine.ade20k import ADE20K_CLASSES

    ious = merged.segmentation.report()["per_class_iou"]
    ids = sorted(ious, key=ious.get, reverse=True)[:20]
    ax.barh(range(len(ids)), [ious[i] for i in ids], color="tab:purple")
    names = [ADE20K_CLASSES[i] if i < len(ADE20K_CLASSES) else str(i) for i in ids]
    ax.set_yticks(range(len(ids)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title("segmentation IoU per class, all frames")
