# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros evaluate``: flags -> ``EvaluateOptions`` -> ``evaluate``, then the summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tips_ros.cli.flags import add_run_options, options_from, run_options
from tips_ros.errors import UsageError
from tips_ros.offline.aggregate import format_summary
from tips_ros.offline.arguments import positive_int
from tips_ros.offline.evaluate import evaluate
from tips_ros.offline.jobs import REPORT, SUMMARY
from tips_ros.offline.options import EvaluateOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``tips-ros evaluate`` (the fields of ``EvaluateOptions``)."""
    default = EvaluateOptions
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="rosbag2 directories and/or folders searched for them")
    parser.add_argument("--output", required=True,
                        help="results folder: <bag name>/output, <bag name>/report.json, "
                        f"{REPORT}, {SUMMARY}")
    add_run_options(parser)
    parser.add_argument("--workers", type=positive_int, default=default.workers,
                        help="Ray workers, each loading the model once (default: one per "
                        "--gpus-per-worker GPUs of the cluster, or 1 without GPUs)")
    parser.add_argument("--gpus-per-worker", type=_non_negative, default=default.gpus_per_worker,
                        help="GPUs per worker, may be fractional (default 1 when the cluster "
                        "has GPUs, else 0)")
    parser.add_argument("--address", default=default.address,
                        help="Ray cluster to join ('auto', host:port or ray://host:port); "
                        "default: a local Ray started for this run")
    parser.add_argument("--cpus-per-worker", type=positive_int, default=default.cpus_per_worker,
                        help=f"CPU cores per worker (its torch threads; default "
                        f"{default.cpus_per_worker})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replay also the bags finished by an earlier run")


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{text} is not a number") from None
    if not value >= 0:
        raise UsageError(f"{text} is not a number >= 0")
    return value


def options(args: argparse.Namespace) -> EvaluateOptions:
    """Return the evaluation the parsed flags ``args`` describe (checked: ``UsageError``)."""
    return options_from(EvaluateOptions, args, run=run_options(args))


def run(args: argparse.Namespace) -> int:
    """Run ``tips-ros evaluate``: evaluate, print the summary and where the files are.

    Exit code 0 when every bag finished, 1 when one failed (the others are still reported);
    on Ctrl-C the summary of what finished is printed and ``KeyboardInterrupt`` re-raised.
    """
    chosen = options(args)  # bad --heads / --queries fail before anything starts
    try:
        report = evaluate(chosen)
    except KeyboardInterrupt:
        written = chosen.output / REPORT  # the aggregate of what finished, if it got that far
        report = json.loads(written.read_text()) if written.is_file() else {}
        if report.get("interrupted"):
            _print(report, chosen.output.resolve())
        raise
    _print(report, chosen.output.resolve())
    return 1 if report["totals"]["failed"] else 0


def _print(report: dict[str, Any], out: Path) -> None:
    print(format_summary(report))
    print(f"report: {out / REPORT}\nsummary: {out / SUMMARY}")
