# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The report of a replay: the JSON document (fields in ``docs/replay.md``) and its table.

The field names are public interface (``frames_in``, ``frames_out``, ``frames_failed``, ``fps``,
``latency_ms``, ``model``, ``device``, ``precision``, ``metrics``, ``weights``, ...);
``accumulated`` carries the raw sums that ``tips-ros evaluate`` merges exactly.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, TYPE_CHECKING

import numpy as np

from tips_ros.engine.requirements import versions
from tips_ros.offline.frame_loop import LANE_STAGES, LOOP_STAGES, ReplayState, STAGES
from tips_ros.offline.inputs import Topics
from tips_ros.offline.options import ReplayOptions
from tips_ros.offline.scoring import Scorer

if TYPE_CHECKING:
    from tips_ros.engine import Engine

#: Metrics shown in the table, per task, in order.
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "depth": ("abs_rel", "rmse", "delta1", "delta2", "delta3"),
    "normals": ("mean_deg", "median_deg", "within_11_25", "within_22_5", "within_30"),
    "segmentation": ("miou", "pixel_acc"),
}

#: EngineConfig fields in the report as the engine ran them (the node's parameters' names).
REPORTED_ENGINE_FIELDS = ("input_size", "keep_aspect", "compile", "channels_last",
                          "allow_pickle", "heatmap_mode", "heatmap_temperature",
                          "zeroshot_threshold", "zeroshot_templates", "pca_momentum")


def _json_ready(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def build_report(options: ReplayOptions, engine: Engine, topics: Topics | None,
                 state: ReplayState, scorer: Scorer | None, load_s: float,
                 wall_s: float) -> dict[str, Any]:
    """Return the JSON report (fields documented in ``docs/replay.md``); NaN becomes null.

    ``topics`` and ``scorer`` are ``None`` when the bag could not be opened; ``load_s`` and
    ``wall_s`` are the seconds spent loading the model and running the replay.
    """
    from tips_ros.engine.testmodel import weights_kind  # torch is loaded with the engine

    run = options.run
    latencies = np.asarray(state.latencies_ms, dtype=np.float64)
    report = {
        "frames_in": state.frames_in,
        "frames_out": state.frames_out,
        "frames_failed": sum(state.failures.values()),
        "failures": dict(state.failures),
        "fps": state.frames_out / state.processing_s if state.processing_s else 0.0,
        "latency_ms": _latency_ms(latencies),
        "stages_ms": stages_ms(state),
        "model": run.model,
        "text_model": run.text_model,
        "weights": weights_kind(*engine.loaded_configs()),
        "device": str(engine.device),
        "precision": engine.precision,
        "backend": engine.config.backend,  # onnxruntime: the graph in onnx_model, not model
        "onnx_model": engine.config.onnx_model or None,
        **{name: _json_ready(getattr(engine.config, name)) for name in REPORTED_ENGINE_FIELDS},
        "prompt_templates": list(run.prompt_templates),
        "configuration_sources": dict(run.sources),  # field -> flag | params file PATH
        "params_not_applied": list(run.not_applied),
        "batch": run.batch,
        # device out-of-memory events: their frames are in failures["out_of_memory"]
        "out_of_memory": {"events": state.batch.oom_events,
                          "batch_limit": state.batch.batch_limit},
        "heads": sorted(run.selected_heads()),
        "queries": list(engine.queries),
        "output_size": run.output_size,
        "median_scaling": run.median_scaling,
        "metrics": scorer.metrics.report() if scorer else {},
        "frames_scored": dict(scorer.scored) if scorer else {},
        "frames_scored_on_device": dict(scorer.on_device) if scorer else {},
        "ground_truth_failures": dict(state.gt_failures),
        "camera_info_rejected": dict(state.camera_info_rejected),
        "input": {
            "bag": str(options.bag),
            "image_topic": topics.image if topics else run.image_topic,
            "camera_info_topic": topics.camera_info if topics else None,
            "ground_truth_topics": topics.gt if topics else {},
            "every": run.every,
            "max_frames": run.max_frames,
            "paced": options.pace,
        },
        "output": {"bag": str(options.output), "storage": run.storage, "prefix": run.prefix},
        "interrupted": state.interrupted,
        "error": state.error,
        "model_load_s": load_s,
        "wall_s": wall_s,
        "accumulated": {  # raw sums, merged exactly by tips-ros evaluate
            "metrics": scorer.metrics.state() if scorer else None,
            "latencies_ms": list(state.latencies_ms),
            "processing_s": state.processing_s,
        },
        "command": sys.argv,
        "versions": versions(),
    }
    return json_safe(report)


def _latency_ms(latencies: np.ndarray) -> dict[str, float | None]:
    """Return p50, p99 and mean of per-frame latencies (ms); ``None`` without frames."""
    if not latencies.size:
        return {"p50": None, "p99": None, "mean": None}
    return {"p50": float(np.percentile(latencies, 50)),
            "p99": float(np.percentile(latencies, 99)), "mean": float(latencies.mean())}


def stages_ms(state: ReplayState) -> dict[str, Any]:
    """Return the milliseconds per output frame of each stage of the replay.

    ``wall`` and ``cpu`` (the CPU time of the thread that ran the stage, what it costs on a
    shared machine) map each stage of :data:`~tips_ros.offline.frame_loop.STAGES` to its mean
    per written frame. ``outside_engine`` (``wall`` and ``cpu``) is the frame loop's own time
    outside the engine: its stages (:data:`~tips_ros.offline.frame_loop.LOOP_STAGES`) but
    ``engine``, the waits for the lanes included; this is what caps a replay's frames/s beside
    a fast engine; its ``host_cpu`` adds the lanes' CPU time: every host CPU millisecond a
    frame costs outside the engine. ``lanes``: each background lane's time per frame
    (``wall``, ``cpu``), which overlaps the engine. All ``None`` before the first frame is
    written.
    """
    frames = state.frames_out
    timers = {stage: state.stages for stage in LOOP_STAGES} | {
        stage: state.lane_stages[lane] for lane, stages in LANE_STAGES.items()
        for stage in stages}
    out: dict[str, Any] = {}
    for kind in ("wall", "cpu"):
        out[kind] = {stage: getattr(timers[stage], kind)[stage] * 1000.0 / frames
                     if frames else None for stage in STAGES}
    out["outside_engine"] = {
        kind: sum(out[kind][stage] for stage in LOOP_STAGES if stage != "engine")
        if frames else None for kind in ("wall", "cpu")}
    out["lanes"] = {lane: {kind: sum(out[kind][stage] for stage in stages) if frames else None
                           for kind in ("wall", "cpu")}
                    for lane, stages in LANE_STAGES.items()}
    out["outside_engine"]["host_cpu"] = (
        out["outside_engine"]["cpu"] + sum(lane["cpu"] for lane in out["lanes"].values())
        if frames else None)
    return out


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON atomically (a reader never sees half a file).

    Written to ``<name>.partial`` next to it, then renamed over it; a run stopped at any point
    leaves the previous file or the new one. The folder is made if missing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)


def json_safe(value: Any) -> Any:
    """Return ``value`` with non-finite floats as ``None`` and dict keys as strings (JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_table(report: dict[str, Any]) -> str:
    """Return a short human-readable summary of a report (counts, speed, metrics)."""
    lat = report["latency_ms"]
    lines = [
        f"frames        in {report['frames_in']}  out {report['frames_out']}  "
        f"failed {report['frames_failed']} {report['failures'] or ''}".rstrip(),
        f"speed         {report['fps']:.2f} frames/s  latency p50 {_num(lat['p50'])} ms  "
        f"p99 {_num(lat['p99'])} ms  ({report['device']}, {report['precision']}, "
        f"batch {report['batch']})",
    ]
    for task, values in report["metrics"].items():
        keys = TABLE_METRICS[task]
        lines.append(f"{task:<14}" + "  ".join(f"{k} {_num(values[k])}" for k in keys))
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
