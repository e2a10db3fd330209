# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""torch vs onnxruntime speed on a shared machine: calls alternated in one process.

    python bench/onnx_interleaved.py --model DIR/dpt --text-model DIR/text --onnx FILE \
        [--device cpu] [--rounds 3] [--json OUT]

One 640x480 frame, 448x448 input, all heads and colour views, batch 1. After one warm-up call
each, the two engines run alternately, so a change in the machine's load hits both alike
(tips-ros bench measures one configuration after the other). Prints seconds per frame and the
ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from tips_ros.tools.camera_sim import make_frames
from tips_ros.engine import Engine, EngineConfig

HEADS = ["depth", "normals", "segmentation", "heatmaps",
         "normals_color", "segmentation_color", "heatmaps_color"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--model", "--text-model", "--onnx"):
        parser.add_argument(name, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    common = {"model": args.model, "text_model": args.text_model, "device": args.device,
              "input_size": 448}
    engines = {"torch": Engine(EngineConfig(**common, precision="fp32")),
               "onnxruntime": Engine(EngineConfig(**common, backend="onnxruntime",
                                                  onnx_model=args.onnx))}
    frames = make_frames(1, 480, 640, seed=2)
    for engine in engines.values():
        engine.set_queries(["person", "chair", "table", "door"])
        engine.infer(frames, HEADS)
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            start = time.perf_counter()
            engine.infer(frames, HEADS)
            seconds[name].append(time.perf_counter() - start)
    report = {
        "command": "python bench/onnx_interleaved.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "seconds_per_frame": seconds,
        "torch_over_onnxruntime_median": (statistics.median(seconds["torch"])
                                          / statistics.median(seconds["onnxruntime"])),
    }
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
