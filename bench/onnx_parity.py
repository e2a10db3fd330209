# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""onnxruntime vs the torch engine on one model: the backend's tolerance figures as JSON.

    python bench/onnx_parity.py --model DIR/dpt --text-model DIR/text --onnx FILE \
        [--device cpu] [--input-size 448] [--frames 2] [--json OUT]

Both engines see the same 640x480 camera frames (tips_ros.tools.camera_sim) and queries and
produce image-resolution predictions; the figures are tips_ros.tools.bench.parity's
(depth and heatmap largest relative difference, labels equal, normals p99 angle), plus the raw
head-resolution agreement tips-ros bench reports. fp32 reference; the ONNX file's precision
is reported.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tips_ros.tools.bench import agreement, parity, raw_outputs
from tips_ros.tools.camera_sim import make_frames
from tips_ros.engine import Engine, EngineConfig

QUERIES = ("person", "chair", "table", "door")
OUTPUTS = ("depth", "normals", "segmentation", "heatmaps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--text-model", required=True)
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--input-size", type=int, default=448)
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    frames = make_frames(args.frames, 480, 640, seed=11)
    common = {"model": args.model, "text_model": args.text_model, "device": args.device,
              "input_size": args.input_size}
    results = {}
    for name, config in (("torch", EngineConfig(**common, precision="fp32")),
                         ("onnxruntime", EngineConfig(**common, backend="onnxruntime",
                                                      onnx_model=args.onnx))):
        engine = Engine(config)
        engine.set_queries(QUERIES)
        results[name] = (engine.infer(frames, OUTPUTS), raw_outputs(engine, frames),
                         engine.precision, list(engine.backend.providers) or None)
        engine.close()
    (ref, ref_raw, *_), (other, other_raw, precision, providers) = (
        results["torch"], results["onnxruntime"])
    report = {
        "command": "python bench/onnx_parity.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "onnx_precision": precision, "providers": providers, "frames": args.frames,
        "frame_size": [640, 480], "input_size": args.input_size, "queries": list(QUERIES),
        "parity": parity(ref, other), "raw_agreement": agreement(ref_raw, other_raw),
    }
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
