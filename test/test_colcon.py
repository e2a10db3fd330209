"""A real ``colcon build`` of the package in a temporary workspace (Debian's colcon).

.ci/run installs colcon and python3-colcon-ros with apt before the tests.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_colcon_build_installs_node_launch_and_config(tmp_path: Path):
    colcon = shutil.which("colcon")
    assert colcon, "colcon is not installed: apt-get install colcon python3-colcon-ros (see .ci/run)"
    src = tmp_path / "src" / "tips_ros"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "install", "log", "*.egg-info", "__pycache__", ".pytest_cache"))
    result = subprocess.run([colcon, "build", "--packages-select", "tips_ros"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    prefix = tmp_path / "install" / "tips_ros"
    assert (prefix / "lib" / "tips_ros" / "tips_node").is_file()
    assert (prefix / "share" / "tips_ros" / "package.xml").is_file()
    assert (prefix / "share" / "tips_ros" / "launch" / "tips.launch.py").is_file()
    assert (prefix / "share" / "tips_ros" / "launch" / "multi_camera.launch.py").is_file()
    assert (prefix / "share" / "tips_ros" / "config" / "tips.yaml").is_file()
    assert (prefix / "share" / "tips_ros" / "config" / "fastdds.xml").is_file()
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "tips_ros").is_file()
