#!/usr/bin/env bash
# The one prepared GPU check: random B/14 weights, 640x480 camera frames, 448x448 model input,
# every measurement in ONE Python process (tips_ros/tools/bench/gpu_check.py: the fp32
# reference and the naive pipeline are loaded and timed once). Brings back three files, within
# the device machine's rules (at most 8 files, 16 MiB each, names of [A-Za-z0-9._-]):
#   results.json   one section per step (reference, grid, features, e2e, compiled) plus setup
#                  and run; each "complete": true, or false with a "reason"; a step this
#                  machine cannot run is complete with "skipped": "<why>"
#   run.log        everything: this script, the driver, the tips_node process of the e2e step
#   env.txt        python, torch, CUDA, GPU, onnxruntime providers, the carried wheels
# The EXIT trap writes results.json whatever happened (a step failing, the hard limit, a crash).
#
# Time: BUDGET_S (default 280 s) for the whole run, setup included; each step has a hard limit
# (a share of the budget, never more than what is left, never below 5 s: a step that would get
# less is not started and says so), and the driver process itself runs under `timeout` with
# what is left of the budget. A B/14 run so fits in 5 minutes, and a second try in the 15.
#
# The device machine has no network (python 3.12, torch 2.11+CUDA, transformers 5.17 and
# onnxruntime preinstalled). First, on the CPU machine, `bash bench/gpu_wheels.sh` puts the
# ROS 2 wheels (e2e step) into .whl/; then run it as
#   bash bench/gpu_check.sh        (device tool: timeout_s 420, carry [".whl"])
# Overrides: OUT PYTHON DEVICE SIZE ITERS E2E_FRAMES E2E_RATE, and BUDGET_S FRAME INPUT_SIZE
# E2E_WARMUP STEPS. The CI rehearsal (test/test_gpu_check.py) runs it with DEVICE=cpu SIZE=tiny
# and checks the folder against the rules.
#
# ONNX=1 runs the onnxruntime steps instead, in a second device call (an ONNX export of B/14
# does not fit the first one's 5 minutes): reference, onnx (CUDA provider, fp32 and fp16,
# batch 1 and 8) and onnx_trt (TensorRT, fp16, batch 1), each skipped, saying why, when this
# onnxruntime lacks the provider. onnxruntime-gpu (ORT_GPU=1 in gpu_wheels.sh) travels in parts
# over several calls; once all are in /tmp/ort-parts they are joined and installed here.
set -uo pipefail
OUT=${OUT:-/tmp/tips_gpu_out}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-b14}
ITERS=${ITERS:-30}
E2E_FRAMES=${E2E_FRAMES:-300}
E2E_RATE=${E2E_RATE:-30}
BUDGET_S=${BUDGET_S:-280}
if [ "$SIZE" = b14 ]; then FRAME=${FRAME:-640x480} INPUT_SIZE=${INPUT_SIZE:-448}
else FRAME=${FRAME:-64x48} INPUT_SIZE=${INPUT_SIZE:-56}; fi  # a CPU-sized rehearsal
E2E_WARMUP=${E2E_WARMUP:-$((E2E_FRAMES / 10))}
STEPS=${STEPS:-$([ "${ONNX:-0}" = 1 ] && echo onnx || echo torch)}  # groups in gpu_check.py
STARTED=$(date +%s.%N)
mkdir -p "$OUT"
exec 3>&1 >>"$OUT/run.log" 2>&1  # fd 3: the console (the summary); the rest goes to run.log
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
say() { echo "$*"; echo "$*" >&3; }
left() { echo $(( BUDGET_S - SECONDS )); }
DRIVER_EXIT=125  # "never started" until the driver ran
SETUP='{"complete": true, "wheels": "none carried"}'

finish() {
  trap - EXIT
  say "== finalize after ${SECONDS} s (driver exit ${DRIVER_EXIT})"
  $PY -m tips_ros.tools.bench.gpu_check finalize --out "$OUT" --started "$STARTED" \
    --budget "$BUDGET_S" --steps "$STEPS" --device "$DEVICE" --size "$SIZE" \
    --driver-exit "$DRIVER_EXIT" --setup "$SETUP" 2>&1 | tee -a "$OUT/run.log" >&3
  local rc=${PIPESTATUS[0]}
  if [ ! -s "$OUT/results.json" ]; then  # python itself failed: still one valid JSON
    echo '{"run": {"complete": false, "reason": "finalize failed; see run.log"}}' \
      > "$OUT/results.json"
  fi
  exit "$rc"
}
trap finish EXIT
trap "exit 143" TERM INT  # a signal still runs the EXIT trap

say "== setup ($(date -u +%FT%TZ)): DEVICE=$DEVICE SIZE=$SIZE FRAME=$FRAME INPUT_SIZE=$INPUT_SIZE" \
  "ITERS=$ITERS BUDGET_S=$BUDGET_S"
if ls .whl/*.whl >/dev/null 2>&1; then
  # with the environment the ROS wheels' own bootstrapper would set in a virtual environment
  if timeout 60 $PY -m pip install -q --no-index --no-deps --no-compile --no-warn-script-location \
      --prefix /tmp/prefix .whl/*.whl; then
    SITE=$($PY -c "import sysconfig; print(sysconfig.get_path('purelib', vars={'base': '/tmp/prefix', 'platbase': '/tmp/prefix'}))")
    export PYTHONPATH="$SITE:$PWD" AMENT_PREFIX_PATH=/tmp/prefix _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
    export LD_LIBRARY_PATH="/tmp/prefix/lib:$(ls -d "$SITE"/ros_*.libs 2>/dev/null | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    SETUP="{\"complete\": true, \"wheels\": \"$(ls .whl/*.whl | wc -l) installed from .whl\"}"
  else
    SETUP='{"complete": false, "reason": "installing the carried wheels failed (run.log)"}'
  fi
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -f .ort/NAME ] && [ -d /tmp/ort-parts ]; then  # onnxruntime-gpu, carried in parts
  WHEEL="/tmp/$(cat .ort/NAME)"
  cat /tmp/ort-parts/part-* > "$WHEEL"
  if [ "$(sha256sum "$WHEEL" | cut -d' ' -f1)" = "$(cat .ort/SHA256)" ] \
      && timeout 60 $PY -m pip install -q --no-index --no-deps --target /tmp/ort-gpu "$WHEEL"; then
    export PYTHONPATH="/tmp/ort-gpu:$PYTHONPATH"
  else
    say "onnxruntime-gpu parts incomplete ($(ls /tmp/ort-parts | wc -l) here): not installed"
  fi
fi
timeout 30 $PY - > "$OUT/env.txt" 2>&1 <<'PY'
import platform, sys
print("python", platform.python_version(), sys.executable)
import torch, transformers
print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)
print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
for name in ("rclpy", "onnxruntime"):
    try:
        module = __import__(name)
        extra = module.get_available_providers() if name == "onnxruntime" else module.__file__
        print(name, getattr(module, "__version__", ""), extra)
    except ImportError as err:
        print(name, "missing:", err)
PY
ls .whl 2>/dev/null >> "$OUT/env.txt"
cat "$OUT/env.txt"

LIMIT=$(( $(left) - 5 ))  # the driver's hard limit: what is left, minus finalize's seconds
if [ "$LIMIT" -lt 10 ]; then
  say "setup used the budget (${SECONDS} s of ${BUDGET_S} s): no step started"
else
  say "== driver (hard limit ${LIMIT} s, ${SECONDS} s elapsed)"
  timeout -k 5 "$LIMIT" $PY -m tips_ros.tools.bench.gpu_check run --out "$OUT" \
    --started "$STARTED" --budget "$BUDGET_S" --steps "$STEPS" --device "$DEVICE" \
    --size "$SIZE" --frame "$FRAME" --input-size "$INPUT_SIZE" --iters "$ITERS" \
    --e2e-frames "$E2E_FRAMES" --e2e-rate "$E2E_RATE" --e2e-warmup "$E2E_WARMUP"
  DRIVER_EXIT=$?
fi
