# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""One benchmark run: the naive pipeline, every engine configuration, optionally the e2e run.

:func:`benchmark` is the typed entry point under ``tips-ros bench``. Times are milliseconds,
rates frames/s, memory bytes.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tips_ros.engine import Engine
from tips_ros.engine.config import model_input_size, resolve_device
from tips_ros.engine.prediction import HEADS
from tips_ros.offline.report import write_json
from tips_ros.tools.bench.common import heads_of
from tips_ros.tools.bench.e2e import bench_e2e, bench_e2e_grid
from tips_ros.tools.bench.measure import (
    agreement, count_gflop, host_syncs_per_batch, profile_pass, raw_outputs, timed_pass,
)
from tips_ros.tools.bench.naive import NaivePipeline, time_naive
from tips_ros.tools.bench.options import BenchOptions, make_engine
from tips_ros.tools.bench.report import new_report
from tips_ros.tools.camera_sim import make_frames

#: fp32 reference outputs per batch size (from :func:`~.measure.raw_outputs`)
References = dict[int, dict[str, np.ndarray]]


def benchmark(options: BenchOptions, json_path: Path | None = None, command: str = "",
              model_label: str | None = None) -> dict[str, Any]:
    """Run every configuration of ``options`` and return the report.

    The report (see :mod:`~tips_ros.tools.bench.report`) is written to ``json_path`` after
    every measurement, so a run stopped midway leaves its results so far. ``command`` is the
    command line recorded in it, ``model_label`` how it names the model (default: the model).
    """
    width, height = options.frame_size
    frames = make_frames(max(options.batches), height, width)
    report = new_report(resolve_device(options.device), model_label or options.model,
                        options.queries, command)
    report |= {"configuration": options.configuration(),
               "configuration_sources": dict(options.sources),
               "params_not_applied": list(options.not_applied)}

    def checkpoint() -> None:
        if json_path is not None:
            write_json(json_path, report)

    bench_engines(options, frames, report, checkpoint)
    if options.e2e is not None:
        cells: list[dict[str, Any]] = []
        if options.e2e.grid:
            bench_e2e_grid(options, lambda done: (report.update(e2e_grid=done), checkpoint()))
            cells = report["e2e_grid"]
        own = [cell for cell in cells if cell["frame_size"] == list(options.frame_size)
               and cell["output_size"] == options.output_size]  # run once, not twice
        report["e2e"] = own[0] if own else bench_e2e(options, frames)
    report["complete"] = True
    checkpoint()
    return report


@dataclass
class Baseline:
    """What every configuration is compared with, loaded and measured once per process.

    ``engine`` is the fp32 eager engine, ``references`` its raw outputs per batch size and
    ``naive`` the naive pipeline's figures per batch size (string keys, as in the report).
    """

    engine: Engine
    references: References
    naive: dict[str, Any]

    def covers(self, options: BenchOptions) -> bool:
        """Tell whether this baseline has every batch size of ``options``."""
        return all(batch in self.references for batch in options.batches)


def measure_baseline(options: BenchOptions, frames: list[np.ndarray],
                     checkpoint: Callable[[], None] = lambda: None,
                     naive: dict[str, Any] | None = None) -> Baseline:
    """Load the fp32 reference engine and time the naive pipeline per batch of ``options``.

    The naive figures go into ``naive`` (a report's ``"naive"``) as they come, with a
    ``checkpoint`` after each batch size.
    """
    reference = make_engine(options, "fp32", "none")
    naive = {} if naive is None else naive
    references = _bench_naive(options, reference, frames, naive, checkpoint)
    return Baseline(reference, references, naive)


def bench_engines(options: BenchOptions, frames: list[np.ndarray], report: dict[str, Any],
                  checkpoint: Callable[[], None], baseline: Baseline | None = None) -> None:
    """Measure every engine configuration of ``options`` into ``report``.

    The configurations go to ``report["configs"]`` (``checkpoint`` after each one) and the
    naive figures to ``report["naive"]``, from ``baseline`` if given (it must cover the batch
    sizes), else measured here first.
    """
    if baseline is None:
        own = measure_baseline(options, frames, checkpoint, report["naive"])
    else:
        if not baseline.covers(options):
            raise ValueError(f"the baseline has batch sizes {sorted(baseline.references)}, "
                             f"not all of {list(options.batches)}")
        report["naive"].update({str(b): baseline.naive[str(b)] for b in options.batches})
        own = None
    base = own or baseline
    for precision in options.precisions if "torch" in options.backends else ():
        for compile_mode in options.compile_modes:
            fresh = precision != "fp32" or compile_mode != "none" or options.channels_last
            engine = make_engine(options, precision, compile_mode) if fresh else base.engine
            for batch in options.batches:
                for heads_name in options.heads:
                    print(f"bench: {precision} batch {batch} compile {compile_mode} heads "
                          f"{heads_name}", file=sys.stderr, flush=True)
                    report["configs"].append(bench_one(
                        options, engine, frames[:batch], heads_name, base.references[batch],
                        report["naive"][str(batch)]))
                    checkpoint()
            if fresh:
                engine.close()
    if "onnxruntime" in options.backends:
        bench_onnxruntime(options, frames, base.references, report, checkpoint)
    if own is not None:
        own.engine.close()


def _bench_naive(options: BenchOptions, reference: Engine, frames: list[np.ndarray],
                 results: dict[str, Any], checkpoint: Callable[[], None]) -> References:
    """Time the naive pipeline per batch size into ``results``; return the fp32 references."""
    config, (height, width) = reference.config, frames[0].shape[:2]
    naive = NaivePipeline(
        options.model, options.text_model, reference.device,
        model_input_size(height, width, config.input_size, config.keep_aspect),
        reference.text.encode(options.queries, options.node_params().prompt_templates),
        config.heatmap_temperature if config.heatmap_mode == "softmax" else None)
    references: References = {}
    for batch in options.batches:
        batch_frames = frames[:batch]
        references[batch] = raw_outputs(reference, batch_frames)
        naive_raw, _ = naive(batch_frames)
        results[str(batch)] = {
            **time_naive(naive, batch_frames, options.iters, options.warmup),
            "gflop_per_frame": count_gflop(lambda: naive(batch_frames), batch),
            "agreement_with_fast_fp32": agreement(
                references[batch], {k: v.float().cpu().numpy() for k, v in naive_raw.items()}),
        }
        checkpoint()
    naive.close()
    return references


def bench_onnxruntime(options: BenchOptions, frames: list[np.ndarray], references: References,
                      report: dict[str, Any], checkpoint: Callable[[], None]) -> None:
    """Measure the onnxruntime backend on graphs exported in this run.

    Dynamic batch; fp32, and fp16 if in the precisions; every batch and heads set the graph
    has, measured like the torch configurations (``export_s``: the export in seconds;
    ``warmup_s`` includes a TensorRT engine build). A given ``onnx_model`` (parameter) is
    measured instead, at each precision of the run that onnxruntime takes (``export_s`` None).
    """
    from tips_ros.engine.onnx_export import export

    config = options.engine_config()
    given = config.onnx_model
    precisions = ("auto", "fp32", "fp16") if given else ("fp32", "fp16")
    height, width = frames[0].shape[:2]
    with tempfile.TemporaryDirectory(prefix="tips_bench_onnx_") as tmp:
        for precision in (p for p in options.precisions if p in precisions):
            path, export_s = Path(given) if given else Path(tmp) / f"{precision}.onnx", None
            if not given:
                print(f"bench: exporting {precision} ONNX", file=sys.stderr, flush=True)
                start = time.perf_counter()
                export(options.model, path, HEADS,
                       model_input_size(height, width, config.input_size, config.keep_aspect),
                       None, precision == "fp16", config.allow_pickle)
                export_s = time.perf_counter() - start
            engine = make_engine(options, precision, "none", backend="onnxruntime",
                                 onnx_model=str(path), channels_last=False)
            for batch in options.batches:
                reference = references[batch]
                for heads_name in options.heads:
                    if engine.missing_heads(heads_of(heads_name)):
                        continue  # feature outputs: backend torch only
                    print(f"bench: onnxruntime {precision} batch {batch} heads {heads_name}",
                          file=sys.stderr, flush=True)
                    row = bench_one(options, engine, frames[:batch], heads_name, reference,
                                    report["naive"][str(batch)])
                    report["configs"].append({**row, "export_s": export_s})
                    checkpoint()
            engine.close()


def _device_used(device: torch.device) -> int | None:
    """Return the device-wide used memory in bytes (CUDA only).

    It includes onnxruntime's own memory arena, which torch's peak allocation misses.
    """
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    return total - free


def _dynamo_counts() -> dict[str, int]:
    """Return Dynamo's process-wide counts: frames compiled, graph breaks."""
    from torch._dynamo.utils import counters

    return {"frames_compiled": counters["frames"]["total"],
            "graph_breaks": sum(counters["graph_break"].values())}


def _compile_check(before: dict[str, int]) -> dict[str, Any]:
    """Report what Dynamo did in a compiled configuration's measured calls (since ``before``).

    ``compiled_while_timed`` (frames compiled after the warm-up: recompiles mid-stream),
    ``graph_breaks_while_timed`` and ``graph_breaks`` (process total, eager pieces between
    graphs) should be 0, and ``ok`` says so; ``recompile_limit`` is Dynamo's limit per code
    object (passing it raises, see :mod:`tips_ros.engine.acceleration`, instead of falling back
    to eager).
    """
    after = _dynamo_counts()
    while_timed = after["frames_compiled"] - before["frames_compiled"]
    breaks_timed = after["graph_breaks"] - before["graph_breaks"]
    return {"compiled_while_timed": while_timed, "graph_breaks_while_timed": breaks_timed,
            "graph_breaks": after["graph_breaks"],
            "recompile_limit": torch._dynamo.config.recompile_limit,
            "fail_on_recompile_limit_hit": torch._dynamo.config.fail_on_recompile_limit_hit,
            "ok": while_timed == 0 and after["graph_breaks"] == 0}


def bench_one(options: BenchOptions, engine: Engine, frames: list[np.ndarray], heads_name: str,
              reference: dict[str, np.ndarray], naive: dict[str, Any]) -> dict[str, Any]:
    """Measure one configuration: ``engine`` on ``frames`` (one batch) with ``heads_name``."""
    heads = heads_of(heads_name)
    start = time.perf_counter()
    engine.warmup([frames[0].shape[:2]], batch=len(frames), heads=heads)
    warmup_s = time.perf_counter() - start
    for _ in range(options.warmup):
        engine.infer(frames, heads)
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)
    compiled_before = _dynamo_counts()
    timed = timed_pass(engine, frames, heads, options.iters)
    peak = engine.device_memory()["peak"] if engine.device.type == "cuda" else None
    eager = engine.config.compile == "none" and engine.backend.stepwise
    return {
        "precision": engine.precision, "batch": len(frames),
        "backend": engine.config.backend,
        "providers": list(engine.backend.providers) or None,
        "compile": engine.config.compile, "channels_last": engine.config.channels_last,
        "heads": heads_name,
        "input_size": list(model_input_size(*frames[0].shape[:2], engine.config.input_size,
                                            engine.config.keep_aspect)),
        "frame_size": [int(frames[0].shape[1]), int(frames[0].shape[0])],
        "output_size": engine.config.output_size,
        "ms_per_frame": {k: timed[k] for k in ("p50", "p99", "mean", "n")}, "fps": timed["fps"],
        "warmup_s": warmup_s,
        "stages_ms_per_frame": (profile_pass(engine, frames, heads, options.profile_iters)
                                if engine.backend.stepwise else None),  # a graph: one stage
        "peak_device_memory_bytes": peak, "device_used_bytes": _device_used(engine.device),
        # compiled kernels are invisible to the counter: eager configurations only
        "gflop_per_frame": (count_gflop(lambda: engine.infer(frames, heads), len(frames))
                            if eager else None),
        "host_syncs_per_batch": host_syncs_per_batch(engine, frames, heads),
        "agreement_vs_fp32": agreement(reference, raw_outputs(engine, frames)),
        "speedup_vs_naive": naive["p50"] / timed["p50"],
        # last: covers every call above after the warm-up
        "compile_check": _compile_check(compiled_before) if engine.config.compile != "none"
        else None,
    }
