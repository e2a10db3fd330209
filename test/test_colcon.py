# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""A real ``colcon build`` of the package in a temporary workspace.

colcon comes from PyPI (``colcon-common-extensions``, in the ``test`` extra) and runs with this
interpreter, so the installed ``lib/tips_ros/tips_node`` script starts with this interpreter too,
the one that has torch, transformers and rclpy. Debian's colcon runs with ``/usr/bin/python3``
and would write that interpreter into the script instead.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
IGNORED = (".git", ".venv", "build", "install", "log", "*.egg-info", "__pycache__",
           ".pytest_cache")


def colcon_build(workspace: Path) -> Path:
    """Build a copy of the repository with colcon; return its install prefix.

    The copy is ``workspace/src/tips_ros``, built with this interpreter's colcon; the prefix is
    ``workspace/install/tips_ros``.
    """
    colcon = Path(sys.executable).with_name("colcon")
    assert colcon.is_file(), f"{colcon} is missing: pip install -e '.[test]' (colcon from PyPI)"
    shutil.copytree(REPO, workspace / "src" / "tips_ros", ignore=shutil.ignore_patterns(*IGNORED))
    result = subprocess.run([str(colcon), "build", "--packages-select", "tips_ros"],
                            cwd=workspace, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace / "install" / "tips_ros"


def test_colcon_build_installs_node_launch_and_config(tmp_path: Path):
    prefix = colcon_build(tmp_path)
    node = prefix / "lib" / "tips_ros" / "tips_node"
    assert node.is_file()
    assert (prefix / "share" / "tips_ros" / "package.xml").is_file()
    assert (prefix / "share" / "tips_ros" / "launch" / "tips.launch.py").is_file()
    assert (prefix / "share" / "tips_ros" / "launch" / "multi_camera.launch.py").is_file()
    assert (prefix / "share" / "tips_ros" / "config" / "tips.yaml").is_file()
    assert (prefix / "share" / "tips_ros" / "config" / "fastdds.xml").is_file()
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    assert (index / "tips_ros").is_file()
    assert (tmp_path / "install" / "setup.bash").is_file()
    # The installed script's interpreter must have the node's dependencies.
    shebang = node.read_text().splitlines()[0]
    assert shebang.startswith("#!"), shebang
    interpreter = shebang[2:].strip()
    check = subprocess.run([interpreter, "-c", "import torch, transformers, rclpy"],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, f"{interpreter} lacks the node's dependencies: {check.stderr}"
