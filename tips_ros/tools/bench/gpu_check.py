# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The driver of ``bench/gpu_check.sh``: every step in one process, every result in one JSON.

The device machine lent to this work runs one command for at most 10 minutes and brings back
at most :data:`MAX_FILES` files from its output folder (:data:`MAX_FILE_BYTES` each,
:data:`MAX_TOTAL_BYTES` together, at most :data:`MAX_DEPTH` folders down, names of letters,
digits, ``.``, ``_``, ``-``). The script writes three: ``results.json`` (this module),
``run.log`` (every log, the node's too) and ``env.txt``.

``python -m tips_ros.tools.bench.gpu_check run`` runs the steps below, in order, each a
top-level section of ``results.json``, written again after every measurement:

===========  ===============================================================================
reference    the models (random weights), the fp32 eager engine and the naive pipeline,
             loaded and timed once for every later step
grid         fp32, bf16 x batch 1, 8 x heads all, depth; eager
features     bf16, batch 1: all heads plus features / embedding / zeroshot
replay       ``tips-ros replay`` of a synthetic bag with its three ground truths, scored on
             the device; the report's stages and one frame's device sums against numpy's
e2e          camera process -> ``tips_node`` process -> subscribers here (rclpy)
compiled     bf16 x batch 1, 8, all heads, ``torch.compile`` reduce-overhead (inductor; the
             ``eager`` backend on a CPU device: Dynamo's tracing and recompiles only)
onnx         onnxruntime's CUDA provider, fp32 and fp16 (its CPU provider on a CPU device)
onnx_trt     onnxruntime's TensorRT provider, fp16, batch 1
===========  ===============================================================================

Every step has a hard limit (:data:`STEP_SHARES` of the budget, never more than what is left
of it, never less than :data:`MIN_STEP_S`: a step that would get less is not started).
Every section has ``complete``: true, or false with a ``reason``; a step this machine cannot
run (no CUDA or TensorRT provider, rclpy not brought) is complete with ``skipped`` saying why.
``finalize`` (the script's EXIT trap) marks what never ended, adds the ``run`` section and
prints a summary and the problems :func:`out_problems` finds in the output folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2**20
MAX_TOTAL_BYTES = 64 * 2**20
MAX_DEPTH = 2
NAME = re.compile(r"[A-Za-z0-9._-]+")
RESULTS = "results.json"
#: each step's hard limit as a share of the run's budget (seconds)
STEP_SHARES = {"reference": 0.2, "grid": 0.15, "features": 0.08, "replay": 0.07, "e2e": 0.25,
               "compiled": 0.3, "onnx": 0.35, "onnx_trt": 0.35}
#: ``--steps`` groups: the torch run, and the onnxruntime steps (a second device call)
STEP_GROUPS = {"torch": ("reference", "grid", "features", "replay", "e2e", "compiled"),
               "onnx": ("reference", "onnx", "onnx_trt")}
MIN_STEP_S = 5.0
#: frames of the replay step's synthetic bag
REPLAY_FRAMES = 30
#: the replay step's parity: float sums' relative difference, counts' difference per pixel
PARITY_REL, PARITY_COUNTS = 1e-9, 1e-4
#: seconds kept back for ``finalize`` at the end of the budget
RESERVE_S = 10.0
RUNNING = "the step was stopped before it ended (the run's hard limit or a crash; see run.log)"


class Blocked(Exception):
    """A step cannot start because an earlier one did not finish (no traceback needed)."""


class StepTimeout(BaseException):
    """A step ran past its limit (a BaseException: no ``except Exception`` swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`StepTimeout` in the main thread after ``seconds`` (> 0) seconds."""
    if seconds <= 0:
        raise ValueError(f"a step's limit must be positive, not {seconds}")

    def expire(*_: object) -> None:
        raise StepTimeout(f"the step ran past its limit of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- the output folder's rules
def folder_problems(out: Path) -> list[str]:
    """Return what in ``out`` the device machine would not bring back (one sentence each)."""
    problems = []
    files = [p for p in sorted(out.rglob("*")) if p.is_file() or p.is_symlink()]
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files, more than {MAX_FILES}: "
                        + ", ".join(str(p.relative_to(out)) for p in files))
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if not all(NAME.fullmatch(part) for part in rel.parts):
            problems.append(f"'{rel}': names may hold letters, digits, '.', '_', '-' only")
        if path.is_symlink():
            problems.append(f"'{rel}' is a link")
        elif path.is_file():
            if len(rel.parts) - 1 > MAX_DEPTH:
                problems.append(f"'{rel}' is more than {MAX_DEPTH} folders down")
            if path.stat().st_size > MAX_FILE_BYTES:
                problems.append(f"'{rel}' has {path.stat().st_size} bytes, more than "
                                f"{MAX_FILE_BYTES}")
    total = sum(p.stat().st_size for p in files if p.is_file() and not p.is_symlink())
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{total} bytes in all, more than {MAX_TOTAL_BYTES}")
    return problems


def section_problems(out: Path) -> list[str]:
    """Return every top-level JSON section under ``out`` that is not complete, or not valid.

    A section is a top-level object value; it needs ``"complete": true``, or ``false`` with a
    ``"reason"``. Each problem is one sentence naming the file and section.
    """
    problems = []
    for path in sorted(out.rglob("*.json")):
        rel = path.relative_to(out)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            problems.append(f"{rel}: not valid JSON ({err})")
            continue
        if not isinstance(data, dict) or not data:
            problems.append(f"{rel}: not an object of sections")
            continue
        for name, section in data.items():
            if not isinstance(section, dict) or not isinstance(section.get("complete"), bool):
                problems.append(f"{rel}: section '{name}' has no \"complete\": true/false")
            elif not section["complete"]:
                reason = section.get("reason") or "no reason given"
                problems.append(f"{rel}: section '{name}' is incomplete: {reason}")
    return problems


def out_problems(out: Path) -> list[str]:
    """Return every problem of the folder ``out``: its files and its JSON sections."""
    return folder_problems(out) + section_problems(out)


# ---------------------------------------------------------------- the run
class Run:
    """The results of one run and where they go: ``out/results.json``, written atomically."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.out = args, Path(args.out)
        self.results: dict[str, Any] = {}
        self.frames: list[Any] = []
        self.baseline: Any = None
        self.models: tuple[str, str] = ("", "")

    def save(self) -> None:
        """Write ``results.json`` (a stop at any point leaves valid JSON)."""
        from tips_ros.offline.report import write_json

        write_json(self.out / RESULTS, self.results)

    def options(self, **changes: Any) -> Any:
        """Return the bench options of a step: the run's model and sizes with ``changes``."""
        from tips_ros.offline.arguments import parse_size
        from tips_ros.tools.bench.options import BenchOptions

        a = self.args
        return replace(BenchOptions(
            model=self.models[0], text_model=self.models[1], device=a.device,
            precisions=("bf16",), batches=(1, 8), frame_size=parse_size(a.frame),
            input_size=a.input_size, iters=a.iters, warmup=min(5, a.iters),
            profile_iters=min(5, a.iters), heads=("all",)), **changes)

    def step(self, name: str, body: Callable[[dict[str, Any]], None], deadline: float) -> None:
        """Run one step under its hard limit into section ``name`` (complete or with a reason)."""
        limit = min(STEP_SHARES[name] * self.args.budget, deadline - time.monotonic())
        section: dict[str, Any] = {"complete": False, "reason": RUNNING}
        self.results[name] = section
        if limit < MIN_STEP_S:
            section["reason"] = (f"not started: {max(0.0, limit):.0f} s of the run's budget "
                                 f"left, less than {MIN_STEP_S:.0f} s")
            self.save()
            return
        print(f"== {name} (limit {limit:.0f} s)", file=sys.stderr, flush=True)
        start = time.monotonic()
        self.save()
        try:
            with time_limit(limit):
                body(section)
            section["complete"] = True
            section.pop("reason")
        except StepTimeout as err:
            section["reason"] = str(err)
        except Exception as err:  # noqa: BLE001 - any failure is reported, the next step runs
            if not isinstance(err, Blocked):
                traceback.print_exc()
            section["reason"] = f"{type(err).__name__}: {' '.join(str(err).split())}"
        section["step_s"] = round(time.monotonic() - start, 2)
        section["limit_s"] = round(limit, 2)
        state = section.get("skipped") or ("complete" if section["complete"]
                                           else section["reason"])
        print(f"   {name}: {state} after {section['step_s']:.1f} s", file=sys.stderr, flush=True)
        self.save()

    def report(self, section: dict[str, Any]) -> dict[str, Any]:
        """Fill ``section`` as a bench report of this run (machine, versions, model)."""
        from tips_ros.engine.config import resolve_device
        from tips_ros.tools.bench.options import BenchOptions
        from tips_ros.tools.bench.report import new_report

        report = new_report(resolve_device(self.args.device), f"random {self.args.size}",
                            BenchOptions.queries, " ".join(sys.argv))
        report.pop("complete")
        section.update(report)
        return section

    def engines(self, section: dict[str, Any], **changes: Any) -> None:
        """Measure configurations (``changes`` to the step options) against the baseline."""
        from tips_ros.tools.bench.runner import bench_engines

        bench_engines(self.options(**changes), self.frames, self.report(section), self.save,
                      self.baseline)


def _reference(run: Run, section: dict[str, Any]) -> None:
    from tips_ros.engine.testmodel import write_test_models
    from tips_ros.tools.bench.runner import measure_baseline
    from tips_ros.tools.camera_sim import make_frames

    dpt, text = write_test_models(Path(tempfile.mkdtemp(prefix="tips_gpu_models_")),
                                  run.args.size)
    run.models = (str(dpt), str(text))
    options = run.options(precisions=("fp32",))
    width, height = options.frame_size
    run.frames = make_frames(max(options.batches), height, width)
    run.report(section)
    run.baseline = measure_baseline(options, run.frames, run.save, section["naive"])


def _needs_baseline(run: Run) -> None:
    if run.baseline is None:
        raise Blocked("the reference step did not finish, so nothing compares")


def _grid(run: Run, section: dict[str, Any]) -> None:
    _needs_baseline(run)
    run.engines(section, precisions=("fp32", "bf16"), heads=("all", "depth"))


def _features(run: Run, section: dict[str, Any]) -> None:
    _needs_baseline(run)
    run.engines(section, batches=(1,), heads=(
        "all", "all+features", "all+embedding", "all+zeroshot", "all+features+embedding+zeroshot"))


def _replay(run: Run, section: dict[str, Any]) -> None:
    """Replay a synthetic bag at the run's frame size; check device scoring against numpy."""
    _needs_baseline(run)
    from tips_ros.offline.bags import SYNTH_TOPICS, write_synth_bag
    from tips_ros.offline.options import ReplayOptions, RunOptions
    from tips_ros.offline.replay import engine_for, replay
    from tips_ros.offline.synthetic import render_sequence
    from tips_ros.tools.bench.options import BenchOptions

    options = run.options()
    width, height = options.frame_size
    folder = Path(tempfile.mkdtemp(prefix="tips_gpu_replay_"))
    bag = write_synth_bag(folder / "in", REPLAY_FRAMES, (width, height))
    run_options = RunOptions(
        model=run.models[0], text_model=run.models[1], device=run.args.device,
        input_size=run.args.input_size, queries=BenchOptions.queries,
        gt_depth_topic=SYNTH_TOPICS["depth"], gt_normals_topic=SYNTH_TOPICS["normals"],
        gt_labels_topic=SYNTH_TOPICS["labels"])
    start = time.perf_counter()
    engine = engine_for(run_options)
    try:
        report = replay(ReplayOptions(bag, folder / "out", run_options), engine,
                        load_s=time.perf_counter() - start)
        frame = next(render_sequence(1, width, height))  # the bag's first frame
        parity = _device_parity(engine, run_options, frame)
    finally:
        engine.close()
    section.update({key: report[key] for key in (
        "frames_out", "fps", "precision", "output_size", "frames_scored",
        "frames_scored_on_device", "stages_ms", "latency_ms")})
    section["bag"] = {"frames": REPLAY_FRAMES, "size": [width, height]}
    section["device_metrics_parity"] = parity
    if report["frames_scored_on_device"] != {task: REPLAY_FRAMES for task in parity["tasks"]}:
        raise RuntimeError(f"frames scored on the device: {report['frames_scored_on_device']}")
    if not parity["ok"]:
        raise RuntimeError(f"device metric sums differ from numpy's beyond {PARITY_REL} "
                           f"relative or {PARITY_COUNTS} of the pixels: {parity['tasks']}")


def _device_parity(engine: Any, run_options: Any, frame: Any) -> dict[str, Any]:
    """One frame's metric sums on the engine's device against numpy's on its outputs."""
    import numpy as np

    from tips_ros.offline.device_metrics import frame_reduction
    from tips_ros.offline.scoring import frame_sums
    from tips_ros.offline.metrics import DepthFrame, NormalFrame, SegmentationFrame

    classes = len(engine.class_names)
    truth = {"depth": frame.depth, "normals": frame.normals, "segmentation": frame.labels}
    pred = engine.infer([frame.rgb], run_options.selected_heads(),
                        [frame_reduction(truth, num_classes=classes)])[0]
    device = frame_sums(pred.reductions, classes)
    host = {"depth": DepthFrame.of(pred.depth, frame.depth),
            "normals": NormalFrame.of(pred.normals, frame.normals),
            "segmentation": SegmentationFrame.of(pred.class_ids, frame.labels, classes)}
    floats = {"depth": ("abs_rel", "sq_err", "scale"), "normals": ("angle_sum",),
              "segmentation": ()}
    tasks, pixels = {}, frame.depth.size
    for task, reference in host.items():
        rel = max([abs(getattr(device[task], name) - getattr(reference, name))
                   / max(abs(getattr(reference, name)), 1e-300) for name in floats[task]],
                  default=0.0)
        counts = max(int(np.abs(np.subtract(getattr(device[task], item.name),
                                            getattr(reference, item.name))).sum())
                     for item in fields(reference) if item.name not in floats[task])
        tasks[task] = {"float_rel_diff": rel, "count_diff": counts}
    ok = all(t["float_rel_diff"] <= PARITY_REL and t["count_diff"] <= PARITY_COUNTS * pixels
             for t in tasks.values())
    return {"ok": ok, "tasks": tasks, "pixels": pixels}


def _e2e(run: Run, section: dict[str, Any]) -> None:
    _needs_baseline(run)
    try:
        import rclpy  # noqa: F401 - only whether the ROS wheels are here
    except ImportError as err:
        section["skipped"] = (f"rclpy is not importable here ({err}); bring the ROS 2 wheels "
                              "(bash bench/gpu_wheels.sh, carry .whl)")
        return
    from tips_ros.tools.bench.e2e import bench_e2e
    from tips_ros.tools.bench.options import E2EOptions

    a = run.args
    options = run.options(iters=2, e2e=E2EOptions(a.e2e_rate, a.e2e_frames, a.e2e_warmup))
    section.update(bench_e2e(options, run.frames, node_log=sys.stderr))


def _compiled(run: Run, section: dict[str, Any]) -> None:
    _needs_baseline(run)
    backend = "inductor" if run.args.device != "cpu" else "eager"
    run.engines(section, compile_modes=("reduce-overhead",), compile_backend=backend)
    failed = [c for c in section["configs"] if not c["compile_check"]["ok"]]
    if failed:
        raise RuntimeError(f"{len(failed)} compiled configuration(s) recompiled while timed or "
                           f"ran pieces eagerly (graph breaks): see compile_check")


def _providers() -> tuple[str, list[str]]:
    """Return onnxruntime's version and providers (raises ImportError without it)."""
    import onnxruntime

    return onnxruntime.__version__, onnxruntime.get_available_providers()


def _onnx_step(run: Run, section: dict[str, Any], provider: str, **changes: Any) -> None:
    from tips_ros.engine.onnx_backend import CPU, PROVIDERS_ENV

    try:
        version, available = _providers()
    except ImportError as err:
        section["skipped"] = f"onnxruntime is not installed here ({err})"
        return
    if run.args.device == "cpu" and provider != CPU:
        section["skipped"] = f"device cpu: {provider} needs a CUDA device"
        return
    if provider not in available:
        section["skipped"] = (f"onnxruntime {version} here has {', '.join(available)}, not "
                              f"{provider} (onnxruntime-gpu: bench/gpu_wheels.sh ORT_GPU=1)")
        return
    _needs_baseline(run)
    os.environ[PROVIDERS_ENV] = provider
    try:
        run.engines(section, backends=("onnxruntime",), **changes)
    finally:
        os.environ.pop(PROVIDERS_ENV)


def _onnx(run: Run, section: dict[str, Any]) -> None:
    from tips_ros.engine.onnx_backend import CPU, CUDA

    if run.args.device == "cpu":
        _onnx_step(run, section, CPU, precisions=("fp32",), batches=(1,))
    else:
        _onnx_step(run, section, CUDA, precisions=("fp32", "fp16"))


def _onnx_trt(run: Run, section: dict[str, Any]) -> None:
    from tips_ros.engine.onnx_backend import TENSORRT

    _onnx_step(run, section, TENSORRT, precisions=("fp16",), batches=(1,))


STEPS: dict[str, Callable[[Run, dict[str, Any]], None]] = {
    "reference": _reference, "grid": _grid, "features": _features, "replay": _replay,
    "e2e": _e2e,
    "compiled": _compiled, "onnx": _onnx, "onnx_trt": _onnx_trt,
}


def steps_of(text: str) -> tuple[str, ...]:
    """Return the steps of ``--steps``: a group of :data:`STEP_GROUPS` or a comma list."""
    steps = STEP_GROUPS.get(text) or tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise SystemExit(f"--steps takes {', '.join(STEP_GROUPS)} or a comma list of "
                         f"{', '.join(STEPS)}, not '{text}'")
    return steps


def run_steps(args: argparse.Namespace) -> int:
    """Run every step of ``args.steps`` within ``args.budget`` seconds from ``args.started``."""
    deadline = time.monotonic() + args.budget - (time.time() - args.started) - RESERVE_S
    run = Run(args)
    for name in steps_of(args.steps):
        run.step(name, lambda section, n=name: STEPS[n](run, section), deadline)
    return 0


# ---------------------------------------------------------------- the EXIT trap
def finalize(args: argparse.Namespace) -> int:
    """Complete ``results.json`` whatever happened, print a summary and the folder's problems.

    Sections still running are marked with the driver's exit code, steps never reached as not
    started, and the ``run`` section records the budget and the wall time. Returns 1 if the
    folder breaks a rule or a section is incomplete, else 0.
    """
    from tips_ros.offline.report import write_json

    out = Path(args.out)
    path = out / RESULTS
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        results = {}
    for name in steps_of(args.steps):
        section = results.setdefault(name, {"complete": False, "reason": RUNNING})
        if not section.get("complete") and section.get("reason") == RUNNING:
            section["reason"] = (f"the step did not end: the driver exited with code "
                                 f"{args.driver_exit} (124: the run's hard limit); see run.log")
    wall = time.time() - args.started
    results["run"] = {
        "complete": args.driver_exit == 0, "budget_s": args.budget, "wall_s": round(wall, 1),
        "within_budget": wall <= args.budget, "driver_exit": args.driver_exit,
        "device": args.device, "size": args.size, "steps": list(steps_of(args.steps)),
        "reason": None if args.driver_exit == 0 else f"the driver exited with code "
                                                     f"{args.driver_exit}",
    }
    if args.setup:
        results["setup"] = json.loads(args.setup)
    write_json(path, results)
    for name, section in results.items():
        state = ("skipped: " + section["skipped"] if section.get("skipped") else "complete"
                 ) if section.get("complete") else "INCOMPLETE: " + str(section.get("reason"))
        print(f"{name:10} {state}")
    _print_figures(results)
    problems = out_problems(out)
    for problem in problems:
        print("PROBLEM:", problem)
    print(f"wall {wall:.0f} s of a {args.budget:.0f} s budget; {len(problems)} problem(s)")
    return 1 if problems else 0


def _print_figures(results: dict[str, Any]) -> None:
    """Print the measured configurations of every section, one line each."""
    for name, section in results.items():
        for batch, n in (section.get("naive") or {}).items() if name == "reference" else ():
            print(f"naive b{batch}: p50 {n['p50']:.2f} ms/frame")
        for c in section.get("configs") or ():
            peak = (c["peak_device_memory_bytes"] or 0) / 2**30
            runner = c["compile"] if c["backend"] == "torch" else c["backend"]
            print(f"{name:9} {c['precision']:8} b{c['batch']} {runner:15} {c['heads']:32} "
                  f"p50 {c['ms_per_frame']['p50']:7.2f} p99 {c['ms_per_frame']['p99']:7.2f} "
                  f"{c['speedup_vs_naive']:5.1f}x naive, peak {peak:.2f} GiB")
        if name == "replay" and section.get("stages_ms"):
            stages = section["stages_ms"]
            print(f"replay: {section['fps']:.1f} frames/s, engine "
                  f"{stages['wall']['engine']:.1f} ms, outside it {stages['outside_engine']}, "
                  f"lanes {stages['lanes']}")
        if name == "e2e" and section.get("latency_ms"):
            print(f"e2e: {section['achieved_rate_hz']:.1f} of {section['offered_rate_hz']} Hz, "
                  f"drops {section['drops']}/{section['frames_offered']}, latency p50 "
                  f"{section['latency_ms']['p50']:.1f} p99 {section['latency_ms']['p99']:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    """``python -m tips_ros.tools.bench.gpu_check run|finalize|check`` (see the module)."""
    parser = argparse.ArgumentParser(prog="python -m tips_ros.tools.bench.gpu_check")
    parser.add_argument("action", choices=("run", "finalize", "check"))
    parser.add_argument("--out", required=True, help="the output folder")
    parser.add_argument("--started", type=float, default=time.time(),
                        help="when the run started (seconds since the epoch)")
    parser.add_argument("--budget", type=float, default=280.0, help="the run's seconds")
    parser.add_argument("--steps", default="torch",
                        help=f"{' or '.join(STEP_GROUPS)} or a comma list of steps")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", default="b14", help="random model size: tiny or b14")
    parser.add_argument("--frame", default="640x480", help="camera frame WIDTHxHEIGHT")
    parser.add_argument("--input-size", type=int, default=448)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--e2e-frames", type=int, default=300)
    parser.add_argument("--e2e-rate", type=float, default=30.0)
    parser.add_argument("--e2e-warmup", type=int, default=30)
    parser.add_argument("--driver-exit", type=int, default=0, help="finalize: its exit code")
    parser.add_argument("--setup", default="", help="finalize: the setup section as JSON")
    args = parser.parse_args(argv)
    if args.action == "run":
        return run_steps(args)
    if args.action == "finalize":
        return finalize(args)
    problems = out_problems(Path(args.out))
    print("\n".join(problems) or "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
