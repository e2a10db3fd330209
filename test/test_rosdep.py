# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Real ``rosdep`` (PyPI) resolves every key of ``package.xml`` on the supported distros.

Offline, against the snapshot of the ROS distribution index and rosdep rules in
``../shared/rosdistro`` (README there), exactly as ``rosdep install --from-paths src`` runs in a
colcon workspace: ``rosdep update`` into a temporary ``ROS_HOME``, then ``rosdep install
--simulate --reinstall`` (``--reinstall`` so keys already satisfied on this machine are listed
too) and ``rosdep resolve`` of every declared key.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import shared_path

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
#: (ROS distribution, Ubuntu release) pairs the package supports
TARGETS = [("humble", "jammy"), ("jazzy", "noble"), ("kilted", "noble")]
DEPEND_TAGS = ("buildtool_depend", "build_depend", "build_export_depend", "exec_depend",
               "depend", "test_depend", "doc_depend")


def declared_keys() -> set[str]:
    """Every dependency key in ``package.xml``."""
    root = ET.parse(REPO / "package.xml").getroot()
    return {e.text.strip() for tag in DEPEND_TAGS for e in root.findall(tag)}


def rosdep_executable() -> str:
    """Return the ``rosdep`` script of this environment (the ``test`` extra installs it)."""
    beside = Path(sys.executable).parent / "rosdep"
    found = str(beside) if beside.is_file() else shutil.which("rosdep")
    assert found, "rosdep is not installed: pip install -e '.[test]' (PyPI package rosdep)"
    return found


@pytest.fixture
def rosdep(tmp_path: Path):
    """Run ``rosdep ARGS`` offline on ``../shared/rosdistro``; return the completed process."""
    rosdistro = shared_path("rosdistro")
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "20-local.list").write_text("".join(
        f"yaml file://{rosdistro}/rosdep/{name}.yaml\n" for name in ("base", "python", "ruby")))
    env = dict(os.environ, ROSDEP_SOURCE_PATH=str(sources), ROS_HOME=str(tmp_path / "ros_home"),
               ROSDISTRO_INDEX_URL=f"file://{rosdistro}/index-v4.yaml")
    executable = rosdep_executable()

    def run(*args: str, distro: str) -> subprocess.CompletedProcess:
        return subprocess.run([executable, *args], capture_output=True, text=True, timeout=300,
                              env=dict(env, ROS_DISTRO=distro))

    return run


@pytest.mark.parametrize(("distro", "ubuntu"), TARGETS, ids=[d for d, _ in TARGETS])
def test_rosdep_resolves_every_key(rosdep, tmp_path: Path, distro: str, ubuntu: str):
    src = tmp_path / "src" / "tips_ros"  # a workspace with only this package's manifest
    src.mkdir(parents=True)
    shutil.copy(REPO / "package.xml", src)
    target = ("--rosdistro", distro, "--os", f"ubuntu:{ubuntu}")

    update = rosdep("update", "--rosdistro", distro, distro=distro)
    assert update.returncode == 0, update.stdout + update.stderr

    install = rosdep("install", "--simulate", "--reinstall", "--from-paths", str(src.parent),
                     "--ignore-src", "-y", *target, distro=distro)
    output = install.stdout + install.stderr
    assert install.returncode == 0, output
    assert "Cannot locate rosdep definition" not in output and "ERROR" not in output, output

    keys = rosdep("keys", "--from-paths", str(src.parent), "--ignore-src", distro=distro)
    assert keys.returncode == 0, keys.stderr
    assert set(keys.stdout.split()) == declared_keys()

    resolved = rosdep("resolve", *sorted(declared_keys()), *target, distro=distro)
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    blocks = dict(re.findall(r"#ROSDEP\[(.+?)\]\n#\w+\n([^#]+)", resolved.stdout))
    assert set(blocks) == declared_keys(), resolved.stdout
    assert all(packages.split() for packages in blocks.values()), resolved.stdout
    # the system packages rosdep would install for the Python dependencies
    assert "pip3 install -U -I transformers" in install.stdout
    assert not re.search(r"apt-get install -y python3-torch\b", install.stdout)
