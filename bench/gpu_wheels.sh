#!/usr/bin/env bash
# Download the wheels bench/gpu_check.sh needs on the device machine (python 3.12, no network)
# into .whl/ (ignored by git), from an environment where `pip install -e ".[ros]"` is done, at
# the versions installed here (`name==version`: the cp312 builds of what the tests ran against;
# unpinned, --no-deps would mix versions):
# - the ROS 2 wheels the `ros` extra needs (its ros-* requirements, recursively), for the e2e
#   step; their other needs (empy, lark) serve message generation, not rclpy;
# - rosbags and its requirements for python 3.12 that the device image lacks (apsw,
#   backports.zstd, lz4, ruamel.yaml; about 6 MiB), for the replay step.
# The image has torch, transformers 5.17 (the project's floor), numpy, PyYAML, OpenCV, tqdm and
# onnxruntime. Then name `.whl` in the device call's carry. PYTHON overrides the interpreter
# (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LIMIT_MIB=56  # of the 64 MiB a device call may carry, working tree included (2 MiB now)
EXCLUDE=$(git rev-parse --git-path info/exclude)  # a worktree's too
mkdir -p "$(dirname "$EXCLUDE")"
grep -qx '/.whl/' "$EXCLUDE" 2>/dev/null || echo /.whl/ >> "$EXCLUDE"
rm -rf .whl
# The installed closure of the roots, pinned (ros-* packages: their ros-* requirements only).
WHEELS=$($PY - <<'PY'
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOTS = ["ros-rclpy[fastrtps]", "ros-sensor-msgs", "ros-std-msgs", "ros-diagnostic-msgs",
         "ros-lifecycle-msgs", "rosbags"]
IMAGE = {"numpy", "typing-extensions"}  # in the device image already
TARGET = {"python_version": "3.12", "python_full_version": "3.12.0"}
found, todo = {}, [Requirement(r) for r in ROOTS]
while todo:
    req = todo.pop()
    name = canonicalize_name(req.name)
    if name in found or name in IMAGE:
        continue
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        continue
    found[name] = dist.version
    for text in dist.requires or ():
        sub = Requirement(text)
        if not name.startswith("ros-") or canonicalize_name(sub.name).startswith("ros-"):
            if sub.marker is None or any(sub.marker.evaluate({**TARGET, "extra": e})
                                         for e in req.extras or {""}):
                todo.append(sub)
print(" ".join(f"{n}=={v}" for n, v in sorted(found.items())))
PY
)
if ! grep -q 'ros-rclpy==' <<<"$WHEELS"; then
  echo "ros-rclpy is not installed in this environment ($PY): pip install -e '.[ros]' first" >&2
  exit 1
fi
# shellcheck disable=SC2086  # one word per wheel
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  -d .whl --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any $WHEELS
TOTAL=$(( $(du -cb .whl/*.whl | tail -1 | cut -f1) + $(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) ))
echo "$(ls .whl | wc -l) wheels; with the working tree $((TOTAL / 1048576)) MiB of the 64 MiB carry limit"
if [ "$TOTAL" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "more than ${LIMIT_MIB} MiB: too close to the carry limit; bring fewer wheels" >&2
  exit 1
fi

# Issue 18, opt-in (ORT_GPU=1): onnxruntime-gpu for cp312 (built for CUDA 13 and cuDNN 9 cu13,
# which the device image has; 244 MiB, so it cannot travel in one carry). It is split into
# 48 MiB parts under .ort/ (also ignored by git); carry `.ort/NAME`, `.ort/SHA256` and ONE part
# per device call (calls close together keep the machine warm) and start each call with
#   mkdir -p /tmp/ort-parts && cp .ort/part-* /tmp/ort-parts/
# ONNX=1 bash bench/gpu_check.sh, in the call carrying the last part, joins and installs them.
# TensorRT's own libraries (libnvinfer, over 1 GB) are not in the image: the onnx_trt step
# there is skipped, saying so, and the CUDA provider step still runs.
if [ "${ORT_GPU:-0}" = 1 ]; then
  grep -qx '/.ort/' "$EXCLUDE" || echo /.ort/ >> "$EXCLUDE"
  rm -rf .ort && mkdir .ort
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp -d .ort \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 onnxruntime-gpu==1.31.1
  WHEEL=$(ls .ort/*.whl) && basename "$WHEEL" > .ort/NAME && sha256sum "$WHEEL" | cut -d' ' -f1 > .ort/SHA256
  split -b 48M -d "$WHEEL" .ort/part- && rm "$WHEEL"
  echo "onnxruntime-gpu: $(ls .ort/part-* | wc -l) parts of 48 MiB in .ort/ ($(cat .ort/NAME))"
fi
