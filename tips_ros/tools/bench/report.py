# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The benchmark report: machine and versions, the JSON file, the printed table.

The JSON holds ``date``, ``command``, ``argv``, ``machine``, ``versions``, ``model``,
``queries``, ``stages``, ``configs`` (one row per configuration), ``naive`` (per batch size),
``e2e``, ``e2e_grid`` (with ``--e2e-grid-*``: one ``e2e`` object per camera size x output
size) and ``complete``; a :func:`~tips_ros.tools.bench.benchmark` report also
``configuration`` (every node parameter the bench applies, as it runs them; a swept one as
the list of its values), ``configuration_sources`` (``flag`` or ``params file PATH`` per
setting; absent: the default) and ``params_not_applied`` (the params file's live-only
parameters), as a replay report. Times are milliseconds, rates frames/s, memory bytes.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, TextIO

import torch

from tips_ros.engine.requirements import versions
from tips_ros.tools.bench.common import STAGES


def machine_info(device: torch.device) -> dict[str, Any]:
    """Describe the machine: CPU model and cores, GPU name, driver and CUDA version."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
                            "device": str(device), "gpu": None, "driver": None,
                            "cuda": torch.version.cuda}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        try:
            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            info["driver"] = None
    return info


def new_report(device: torch.device, model: str, queries: tuple[str, ...],
               command: str) -> dict[str, Any]:
    """Start a report: no results yet, ``complete`` false until the run ends."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command, "argv": sys.argv, "machine": machine_info(device),
        "versions": versions(), "model": model, "queries": list(queries),
        "stages": list(STAGES), "configs": [], "naive": {}, "e2e": None, "complete": False,
    }


def print_table(report: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """Print a short human-readable table of ``report``."""
    print(f"{'precision':9} {'batch':>5} {'compile/backend':15} {'heads':14} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'frames/s':>9} {'vs naive':>8} {'peak MiB':>9}", file=out)
    for r in report["configs"]:
        peak_bytes = r["peak_device_memory_bytes"]
        peak = "-" if peak_bytes is None else f"{peak_bytes / 2**20:.0f}"
        runner = r["compile"] if r.get("backend", "torch") == "torch" else r["backend"]
        ms = r["ms_per_frame"]
        print(f"{r['precision']:9} {r['batch']:5d} {runner:15} {r['heads']:14} "
              f"{ms['p50']:8.2f} {ms['p99']:8.2f} {r['fps']:9.1f} "
              f"{r['speedup_vs_naive']:7.2f}x {peak:>9}", file=out)
    for batch, n in report["naive"].items():
        print(f"naive     {int(batch):5d} {'eager':15} {'all (2 passes)':14} {n['p50']:8.2f} "
              f"{n['p99']:8.2f} {n['fps']:9.1f}", file=out)
    for cell in report.get("e2e_grid") or ():
        width, height = cell["frame_size"]
        _print_e2e(f"e2e {width}x{height} output {cell['output_size']}", cell, out)
    if report.get("e2e"):
        _print_e2e("e2e", report["e2e"], out)


def _print_e2e(label: str, e: dict[str, Any], out: TextIO) -> None:
    """Print one ``e2e`` object of a report on one line, headed ``label``."""
    lat = e["latency_ms"] or {"p50": float("nan"), "p99": float("nan")}
    in_node = e["node_diagnostics"].get("ros_side_p50_ms", "n/a")
    print(f"{label}: offered {e['offered_rate_hz']} Hz, achieved {e['achieved_rate_hz']:.1f} "
          f"Hz, drops {e['drops']}/{e['frames_offered']}, latency p50 {lat['p50']:.1f} ms "
          f"p99 {lat['p99']:.1f} ms, ROS side {e['ros_side_ms_per_frame']['total']:.1f} "
          f"ms/frame (in the node: {in_node} ms p50), "
          f"{e['bytes_per_frame']['total'] / 1e6:.2f} MB/frame", file=out)
