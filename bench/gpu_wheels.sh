#!/usr/bin/env bash
# Download the wheels bench/gpu_check.sh needs on the device machine (python 3.12, no network)
# into .whl/ (ignored by git), from an environment where `pip install -e ".[ros]"` is done:
# the ROS 2 wheels installed here (same versions, cp312 builds), rosbags and its needs, and
# transformers 5.24 (the CPU results' version). Then name `.whl` in the device call's carry.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
rm -rf .whl
ROS=$(python3 -m pip freeze | grep -i '^ros-' | sed 's/==.*//')
[ -n "$ROS" ] || { echo "no ros-* packages in this environment: pip install -e '.[ros]' first"; exit 1; }
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp -d .whl \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
  $ROS rosbags ruamel.yaml ruamel.yaml.clib lz4 apsw backports.zstd transformers==5.24.0
TOTAL=$(( $(du -cb .whl/*.whl | tail -1 | cut -f1) + $(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) ))
echo "$(ls .whl | wc -l) wheels; with the working tree $((TOTAL / 1048576)) MiB of the 64 MiB carry limit"

# Issue 18, opt-in (ORT_GPU=1): onnxruntime-gpu for cp312 (built for CUDA 13 and cuDNN 9 cu13,
# which the device image has; 244 MiB, so it cannot travel in one carry). It is split into
# 48 MiB parts under .ort/ (also ignored by git); carry `.ort/NAME`, `.ort/SHA256` and ONE part
# per device call (calls close together keep the machine warm) and start each call with
#   mkdir -p /tmp/ort-parts && cp .ort/part-* /tmp/ort-parts/
# ONNX=1 bash bench/gpu_check.sh, in the call carrying the last part, joins and installs them.
# TensorRT's own libraries (libnvinfer, over 1 GB) are not in the image: the TensorRT step
# there reports that in one sentence and the CUDA provider steps still run.
if [ "${ORT_GPU:-0}" = 1 ]; then
  grep -qx '/.ort/' .git/info/exclude || echo /.ort/ >> .git/info/exclude
  rm -rf .ort && mkdir .ort
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp -d .ort \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 onnxruntime-gpu==1.31.1
  WHEEL=$(ls .ort/*.whl) && basename "$WHEEL" > .ort/NAME && sha256sum "$WHEEL" | cut -d' ' -f1 > .ort/SHA256
  split -b 48M -d "$WHEEL" .ort/part- && rm "$WHEEL"
  echo "onnxruntime-gpu: $(ls .ort/part-* | wc -l) parts of 48 MiB in .ort/ ($(cat .ort/NAME))"
fi
