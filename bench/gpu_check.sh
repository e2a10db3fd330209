#!/usr/bin/env bash
# One prepared GPU check (issue 5): B/14 random weights on the H200, fp32/bf16 x batch 1/8 x
# compile none/reduce-overhead x heads all/depth, plus the naive transformers pipeline, in one
# `tips-ros bench` run. Writes $OUT/gpu-b14.json (and the log), prints the table.
# Budget: < 8 minutes (model writing ~30 s, 16 configs, 2 reduce-overhead compiles of ~1-2 min each).
#
# The device machine has no network: python 3.12, torch 2.11+cuda, transformers 5.17.
# Before the run, on the CPU machine, put the wheels it lacks into .whl/ in the repository root
# (ignored by git: `echo /.whl/ >> .git/info/exclude`; name `.whl` in the device call's carry):
# the CLI imports rosbags (tips_ros.errors -> tips_ros.bags), and transformers 5.24 is what the
# CPU results used:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       rosbags ruamel.yaml ruamel.yaml.clib zstandard lz4 transformers==5.24.0 tokenizers \
#       safetensors huggingface_hub
# They are installed from that folder only. The ROS wheels are not needed (message building
# is then timed without rclpy; the rclpy --e2e run is a separate, CPU-side measurement).
set -euo pipefail
OUT=${OUT:-/tmp/tips_gpu_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install --no-index --no-deps -q --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
$PY - <<'PY' | tee "$OUT/env.txt"
import torch, transformers
print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)
print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
PY

# Fast configurations first; the naive pipeline is measured inside the same run (per batch size).
timeout 450 $PY -m tips_ros.cli bench --make-model b14 --device cuda \
  --precision fp32,bf16 --batch 1,8 --compile none,reduce-overhead --heads all,depth \
  --size 640x480 --input-size 448 --iters 30 --warmup 5 --profile-iters 5 \
  --json "$OUT/gpu-b14.json" 2>&1 | tee "$OUT/bench.log"

# Issue 8: cost of each dense-feature output on top of the four outputs (bf16, batch 1, eager).
timeout 120 $PY -m tips_ros.cli bench --make-model b14 --device cuda --precision bf16 --batch 1 \
  --heads all,all+features,all+embedding,all+zeroshot,all+features+embedding+zeroshot \
  --size 640x480 --input-size 448 --iters 30 --warmup 5 --profile-iters 3 \
  --json "$OUT/gpu-b14-features.json" 2>&1 | tee "$OUT/bench-features.log" || true

$PY - "$OUT/gpu-b14.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
naive1 = r["naive"]["1"]["p50"]
print(f"\nnaive batch 1: {naive1:.2f} ms/frame (target: fast <= 6 ms and >= 5x)")
for c in r["configs"]:
    a, s = c["agreement_vs_fp32"], c["stages_ms_per_frame"]
    print(f"{c['precision']:8} b{c['batch']} {c['compile']:15} {c['heads']:6} p50 {c['ms_per_frame']['p50']:6.2f} "
          f"{c['speedup_vs_naive']:5.1f}x peak {c['peak_device_memory_bytes'] / 2**30:.2f} GiB "
          f"depth {a['depth_median_rel_error']:.2e} normals {a['normals_median_angle_deg']:.2f} deg "
          f"seg {a['segmentation_logit_corr']:.4f} heat {a['heatmap_corr']:.4f} "
          f"[backbone {s['backbone']:.2f} post {s['postprocess']:.2f} views {s['views']:.2f} "
          f"download {s['download']:.2f} msgs {s['messages']:.2f}]")
PY
