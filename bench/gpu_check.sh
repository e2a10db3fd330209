#!/usr/bin/env bash
# The one prepared GPU check (issues 5 and 8), for a session lent the H200: random B/14 weights,
# 640x480 camera frames, 448x448 model input. Writes under $OUT:
#   env.txt                  torch / transformers / rclpy versions and the GPU
#   gpu-b14.json             eager grid: fp32,bf16 x batch 1,8 x heads all,depth + the naive pipeline
#   gpu-b14-features.json    issue 8: cost of features / embedding / zeroshot on top of all heads
#   gpu-b14-e2e.json         camera process -> tips_node -> subscriber, 30 Hz, all image outputs
#   gpu-b14-compiled.json    bf16 x batch 1,8, torch.compile reduce-overhead (CUDA graphs), all heads
#   *.log                    each step's output
# and prints one summary. Steps run in that order, each under its own timeout, the compiled
# run last with whatever is left of BUDGET_S (default 540 s), so a slow compile costs only itself.
#
# The device machine has no network (python 3.12, torch+CUDA and transformers preinstalled). On
# the CPU machine first run `bash bench/gpu_wheels.sh`: it puts the wheels the device lacks into
# .whl/ (the ROS 2 Kilted wheels for the e2e step, rosbags and its needs, transformers 5.24; about
# 62 MiB with the working tree, inside the 64 MiB carry limit); name `.whl` in the device call's
# carry. They are installed into /tmp/prefix with --no-deps, with the environment the ROS wheels'
# own bootstrapper would set in a virtual environment. Run it as
#   bash bench/gpu_check.sh        (run tool: timeout_s 600, carry [".whl"])
# A dry run of this whole script on the CPU machine (cp311 wheels, tiny model) passed.
#
# Overrides for a dry run on a CPU machine: DEVICE=cpu SIZE=tiny ITERS=3 E2E_FRAMES=10 E2E_RATE=5
#
# ONNX=1 (issue 18) runs only the onnxruntime backend instead, in its own device call:
#   gpu-b14-onnx-cuda.json   CUDA provider, fp32 and fp16 exports, batch 1 and 8, all heads
#   gpu-b14-onnx-trt.json    TensorRT provider, fp16 (engine build counted in warmup_s), batch 1
# each beside the torch fp32 reference's agreement. onnxruntime-gpu comes in parts (see
# bench/gpu_wheels.sh, ORT_GPU=1); on the CPU dry run it measures the CPU provider instead.
set -uo pipefail
OUT=${OUT:-/tmp/tips_gpu_out}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-b14}
ITERS=${ITERS:-30}
E2E_FRAMES=${E2E_FRAMES:-300}
E2E_RATE=${E2E_RATE:-30}
BUDGET_S=${BUDGET_S:-540}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
left() { echo $((BUDGET_S - SECONDS)); }

if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-warn-script-location --prefix /tmp/prefix .whl/*.whl \
    || { echo "installing the carried wheels failed"; exit 1; }
  SITE=$($PY -c "import sysconfig; print(sysconfig.get_path('purelib', vars={'base': '/tmp/prefix', 'platbase': '/tmp/prefix'}))")
  export PYTHONPATH="$SITE:$PWD" AMENT_PREFIX_PATH=/tmp/prefix _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
  export LD_LIBRARY_PATH="/tmp/prefix/lib:$(ls -d "$SITE"/ros_*.libs | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
$PY - <<'PY' 2>&1 | tee "$OUT/env.txt"
import torch, transformers
print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)
print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
try:
    import rclpy
    print("rclpy", rclpy.__file__)
except ImportError as err:
    print("rclpy missing: the e2e step will fail:", err)
PY

MODELS=/tmp/tips_models_$SIZE
$PY -m tips_ros.cli make-test-model "$MODELS" --size "$SIZE" 2>&1 | tee "$OUT/make-model.log" || exit 1
COMMON=(--model "$MODELS/dpt" --text-model "$MODELS/text" --device "$DEVICE" --size 640x480 --input-size 448)

step() {  # step NAME TIMEOUT_S ARGS...: one bench run, JSON and log under $OUT
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit} s, ${SECONDS} s elapsed)"
  timeout "$limit" $PY -m tips_ros.cli bench "${COMMON[@]}" "$@" --json "$OUT/gpu-$SIZE$name.json" \
    > "$OUT/bench$name.log" 2>&1
  echo "   exit $? after ${SECONDS} s; $(tail -n 1 "$OUT/bench$name.log")"
}
if [ "${ONNX:-0}" = 1 ]; then  # the onnxruntime steps only
  if [ -f .ort/NAME ] && [ -d /tmp/ort-parts ]; then
    cat /tmp/ort-parts/part-* > "/tmp/$(cat .ort/NAME)"
    if [ "$(sha256sum "/tmp/$(cat .ort/NAME)" | cut -d' ' -f1)" = "$(cat .ort/SHA256)" ]; then
      $PY -m pip install -q --no-index --no-deps --target /tmp/ort-gpu "/tmp/$(cat .ort/NAME)" \
        && export PYTHONPATH="/tmp/ort-gpu:$PYTHONPATH"
    else
      echo "onnxruntime-gpu parts incomplete ($(ls /tmp/ort-parts | wc -l) here): CPU provider only"
    fi
  fi
  PROVIDERS=$($PY -c "import onnxruntime as o; print(' '.join(o.get_available_providers()))")
  echo "onnxruntime providers: $PROVIDERS" | tee -a "$OUT/env.txt"
  if [ "$DEVICE" = cpu ]; then
    TIPS_ROS_ORT_PROVIDERS=CPUExecutionProvider step -onnx-cpu "$(left)" \
      --backend torch,onnxruntime --precision fp32 --batch 1 --heads depth --iters "$ITERS" \
      --warmup 1 --profile-iters 1
  fi
  if [[ " $PROVIDERS " == *" CUDAExecutionProvider "* ]]; then
    TIPS_ROS_ORT_PROVIDERS=CUDAExecutionProvider step -onnx-cuda 240 --backend onnxruntime \
      --precision fp32,fp16 --batch 1,8 --heads all --iters "$ITERS" --warmup 5 --profile-iters 1
  fi
  if [[ " $PROVIDERS " == *" TensorrtExecutionProvider "* ]]; then
    TIPS_ROS_ORT_PROVIDERS=TensorrtExecutionProvider,CUDAExecutionProvider step -onnx-trt "$(left)" \
      --backend onnxruntime --precision fp16 --batch 1 --heads all --iters "$ITERS" --warmup 5 \
      --profile-iters 1
  fi
else  # the torch steps (issues 5 and 8)
step "" 150 --precision fp32,bf16 --batch 1,8 --compile none --heads all,depth \
  --iters "$ITERS" --warmup 5 --profile-iters 5
step -features 90 --precision bf16 --batch 1 --compile none \
  --heads all,all+features,all+embedding,all+zeroshot,all+features+embedding+zeroshot \
  --iters "$ITERS" --warmup 5 --profile-iters 3
step -e2e 150 --precision bf16 --batch 1 --compile none --heads all --iters 5 --warmup 2 --profile-iters 20 \
  --e2e --e2e-frames "$E2E_FRAMES" --e2e-rate "$E2E_RATE" --e2e-warmup-frames 30
step -compiled "$(left)" --precision bf16 --batch 1,8 --compile reduce-overhead --heads all \
  --iters "$ITERS" --warmup 5 --profile-iters 3
fi

$PY - "$OUT" "$SIZE" <<'PY'
import json, pathlib, sys
out, size = pathlib.Path(sys.argv[1]), sys.argv[2]
for name in ("", "-features", "-compiled", "-e2e", "-onnx-cpu", "-onnx-cuda", "-onnx-trt"):
    path = out / f"gpu-{size}{name}.json"
    if not path.exists():
        print(f"{path.name}: missing (see bench{name}.log)")
        continue
    r = json.loads(path.read_text())
    print(f"\n{path.name}: naive " + ", ".join(f"batch {b}: {n['p50']:.2f} ms/frame" for b, n in r["naive"].items()))
    for c in r["configs"]:
        a, s, peak = c["agreement_vs_fp32"], c["stages_ms_per_frame"] or {}, c["peak_device_memory_bytes"]
        runner = c["compile"] if c.get("backend", "torch") == "torch" else c["backend"]
        print(f"{c['precision']:8} b{c['batch']} {runner:15} {c['heads']:32} p50 {c['ms_per_frame']['p50']:6.2f} "
              f"p99 {c['ms_per_frame']['p99']:6.2f} {c['speedup_vs_naive']:5.1f}x "
              f"peak {(peak or 0) / 2**30:.2f} GiB syncs {(c.get('host_syncs_per_batch') or {}).get('total')} "
              f"depth {a['depth_median_rel_error']:.1e} "
              f"normals {a['normals_median_angle_deg']:.2f} deg seg {a['segmentation_logit_corr']:.4f} "
              f"heat {a['heatmap_corr']:.4f} [" + " ".join(f"{k} {v:.2f}" for k, v in s.items()) + "]")
    if r.get("e2e"):
        e = r["e2e"]
        print("e2e:", json.dumps({k: e[k] for k in ("offered_rate_hz", "achieved_rate_hz", "frames_offered", "drops",
                                                 "latency_ms", "ros_side_ms_per_frame", "node_diagnostics")}))
PY
