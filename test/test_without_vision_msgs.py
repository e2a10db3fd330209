# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The node in an environment without vision_msgs: everything else runs, one warning says why.

The node process gets a ``sitecustomize`` (first on its ``PYTHONPATH``) that puts a finder at
the front of ``sys.meta_path`` raising ``ModuleNotFoundError`` for ``vision_msgs`` and its
submodules: exactly what ``import vision_msgs`` raises in a venv that never built it (checked
below in a child interpreter), while every other package of the venv stays importable.
The same run checks the compact cloud (``points_organized: false``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import Image, PointCloud2
from ros_harness import NodeProcess, node_params, start_publisher, wait_active

pytestmark = pytest.mark.slow

BLOCKER = '''
import sys


class NoVisionMsgs:
    """Finds nothing named vision_msgs: the import fails as with the package absent."""

    def find_spec(self, name, path=None, target=None):
        if name == "vision_msgs" or name.startswith("vision_msgs."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoVisionMsgs())
'''


def without_vision_msgs(tmp_path: Path) -> dict[str, str]:
    """Return the environment additions of a process in which vision_msgs is absent."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return {"PYTHONPATH": path}


def test_node_without_vision_msgs_warns_once_and_runs(tiny_models, listener, tmp_path):
    env = without_vision_msgs(tmp_path)
    probe = subprocess.run(
        [sys.executable, "-c", "import vision_msgs.msg"], capture_output=True, text=True,
        env={**os.environ, **env})
    assert "ModuleNotFoundError: No module named 'vision_msgs'" in probe.stderr
    listener.clear()
    listener.subscribe(Image, "/plain/segmentation")
    listener.subscribe(PointCloud2, "/plain/points")
    params = node_params(tiny_models, publish_points=True, points_organized=False)
    with NodeProcess(params, ros_args=["-r", "__ns:=/plain"], env=env) as node:
        wait_active(listener, "/plain/tips_node", node)
        with start_publisher("--topic", "/plain/image", "--frames", "0", "--rate", "4",
                             "--info", "--width", "64", "--height", "48"):
            assert listener.wait_for(lambda: len(listener.get("/plain/points")) >= 2
                                     and listener.get("/plain/segmentation")), node.log()
        log = node.log()
    warnings = [line for line in log.splitlines() if "vision_msgs" in line]
    assert len(warnings) == 1 and "[WARN]" in warnings[0], log
    for topic in ("segmentation/label_info", "detections", "detections_3d"):
        assert topic in warnings[0]
    assert "Traceback" not in log and "[ERROR]" not in log, log
    cloud = listener.get("/plain/points")[-1]
    assert cloud.height == 1 and cloud.width == 64 * 48 and cloud.is_dense  # compact form
    assert np.frombuffer(cloud.data, "<f4").reshape(-1, 5)[:, 2].min() > 0
