# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Tearing the node down while a frame is in flight (real rclpy, the node in its own process).

The engine's first call after each configure is made slower than any fixed teardown limit
(``TIPS_ROS_FAULTS=delay@N=S``, announced in the node's log): ``cleanup`` and SIGINT must wait
for that frame, never close the model under it, and log no error.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from lifecycle_msgs.msg import Transition
from sensor_msgs.msg import Image

from ros_harness import NodeProcess, change_state, lifecycle_state, node_params, ros_env

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

NODE = "/td/tips_node"
DELAY_S = 6.0  # longer than the 2 s the node used to wait before closing the engine
WAIT_S = 180.0  # limit of every wait for an event (loaded CI machine)


def test_cleanup_and_sigint_wait_for_the_frame_in_flight(tiny_models, listener):
    listener.subscribe(Image, "/td/depth")
    env = {"TIPS_ROS_FAULTS": f"delay@1={DELAY_S},delay@4={DELAY_S}"}
    camera = subprocess.Popen(
        [sys.executable, "-m", "tips_ros.tools.camera_sim", "--topic", "/td/image",
         "--frames", "100000", "--rate", "5", "--width", "160", "--height", "120"],
        env=ros_env(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        with NodeProcess(node_params(tiny_models, warmup=False), ros_args=["-r", "__ns:=/td"],
                         env=env) as node:
            # 1. cleanup while the first frame is in flight
            assert listener.wait_for(lambda: "engine call 1 delayed" in node.log(), WAIT_S), \
                node.log()
            assert change_state(listener, NODE, Transition.TRANSITION_DEACTIVATE), node.log()
            assert change_state(listener, NODE, Transition.TRANSITION_CLEANUP), node.log()
            assert listener.wait_for(lambda: "engine call 1 resumed" in node.log(), WAIT_S)
            # 2. configured again, the node works (a worker left over would have crashed by now)
            listener.clear()
            assert change_state(listener, NODE, Transition.TRANSITION_CONFIGURE), node.log()
            assert change_state(listener, NODE, Transition.TRANSITION_ACTIVATE), node.log()
            assert lifecycle_state(listener, NODE) == "active"
            assert listener.wait_for(lambda: len(listener.get("/td/depth")) >= 2, WAIT_S), \
                node.log()
            # 3. SIGINT while the new engine's 4th frame is in flight: exit 0 after that frame
            assert listener.wait_for(lambda: "engine call 4 delayed" in node.log(), WAIT_S), \
                node.log()
            code, _ = node.stop(signal.SIGINT, timeout=WAIT_S)
            log = node.log()
    finally:
        camera.kill()
        camera.wait()
    assert code == 0, log
    assert log.count("engine call 1 resumed") == 2 and "engine call 4 resumed" in log, log
    for bad in ("frame processing failed", "Traceback", "ERROR"):
        assert bad not in log, log
