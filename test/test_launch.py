# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Both launch files executed for real, as ``ros2 launch`` runs them.

The package is colcon-built into a temporary workspace (colcon from PyPI, so the installed
``tips_node`` runs with this interpreter). Each test sources ``install/setup.bash`` and runs
``launch_runner.py`` (``launch.LaunchService`` with the installed launch file included with
launch arguments) in its own process, feeds it from camera stand-ins in further processes,
receives ``depth`` in this process with rclpy, and ends the launch with a real SIGINT: launch
must stop ``tips_node`` cleanly and exit 0 without an error in its output.

Parameter precedence (tips_ros.ros.launching): a user's ``params_file`` alone configures the
node as the file says (no launch-argument default overrides it); an argument that is given
overrides the file (the serving tests give a file whose models do not exist, and arguments
that name the tiny models).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import shared_path
import yaml
from ros_harness import WAIT_S, Listener, call_service, ros_env, start_publisher, wait_active
from test_colcon import colcon_build

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

RUNNER = Path(__file__).resolve().with_name("launch_runner.py")
STARTUP_S = 3 * WAIT_S  # importing torch and loading the model on a loaded 2-core machine
WIDTH, HEIGHT = 64, 48  # camera stand-in frame size, pixels


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build a colcon workspace with ``tips_ros`` installed (``install/setup.bash``)."""
    if importlib.util.find_spec("launch_ros") is None:
        shared_path("vendor", "launch_ros")  # launch_runner.py takes them from ../shared/vendor
    workspace = tmp_path_factory.mktemp("colcon_ws")
    colcon_build(workspace)
    return workspace


def error_logged(output: str) -> bool:
    """Whether launch output holds an error: launch's or a node's ``[ERROR]``, a traceback."""
    return "[ERROR]" in output or "Traceback" in output


class LaunchProcess:
    """``launch_runner.py FILE name:=value ...`` after ``source install/setup.bash``.

    It runs in its own process group (like a terminal's foreground job); output goes to a file.
    """

    def __init__(self, workspace: Path, launch_file: str, arguments: dict[str, str]) -> None:
        install = workspace / "install"
        path = install / "tips_ros" / "share" / "tips_ros" / "launch" / launch_file
        runner = [sys.executable, str(RUNNER), str(path),
                  *(f"{name}:={value}" for name, value in arguments.items())]
        # bash -c SCRIPT $0 $@: source the workspace, then become the runner (same pid)
        self.args = ["bash", "-c", 'source "$0" && exec "$@"', str(install / "setup.bash"),
                     *runner]
        self.out = tempfile.NamedTemporaryFile("w+", prefix="launch_", suffix=".log")
        self.proc = subprocess.Popen(self.args, env=ros_env(), stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return Path(self.out.name).read_text()

    log = output  # as NodeProcess.log (ros_harness.wait_active)

    def interrupt(self) -> int:
        """SIGINT to the launch process (Ctrl-C); its exit code."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"launch did not exit {WAIT_S} s after SIGINT:\n{self.output()}")

    def failed(self) -> bool:
        """Whether launch has exited or logged an error (e.g. the node failed to configure)."""
        return self.proc.poll() is not None or error_logged(self.output())

    def group_alive(self) -> bool:
        """Whether any process of the launch's process group (e.g. ``tips_node``) still runs."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def close(self) -> None:
        """Kill whatever a failed test left of the launch process group."""
        if self.group_alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.out.close()


@pytest.fixture
def launch(workspace: Path) -> Iterator[Any]:
    """Give a starter of :class:`LaunchProcess` (file, arguments); clean all up after."""
    started: list[LaunchProcess] = []

    def start(launch_file: str, **arguments: str) -> LaunchProcess:
        # launch escalates SIGINT to SIGTERM after `sigterm_timeout` (default 5 s) and logs that
        # as an error; tips_node's exit (interpreter teardown with torch) took 3.6-3.9 s here at
        # load 8.7 on 2 cores, so this limit is as generous as every other wait.
        arguments = {"sigterm_timeout": str(WAIT_S), **arguments}
        started.append(LaunchProcess(workspace, launch_file, arguments))
        return started[-1]

    yield start
    for process in started:
        process.close()


@pytest.fixture
def receiver() -> Iterator[Listener]:
    """Make an rclpy node in this process that records the topics it subscribes to."""
    listener = Listener("launch_test_listener")
    yield listener
    listener.close()


def camera(topic: str, frame_id: str) -> Any:
    """Start a camera stand-in streaming small rgb8 frames on ``topic`` until stopped."""
    return start_publisher("--topic", topic, "--frame-id", frame_id, "--frames", "0",
                           "--rate", "2", "--width", str(WIDTH), "--height", str(HEIGHT))


def wait_for_messages(receiver: Listener, process: LaunchProcess, *topics: str) -> None:
    """Wait until each of ``topics`` has delivered a message; fail at once if launch fails."""
    assert receiver.wait_for(lambda: process.failed() or all(map(receiver.get, topics)),
                             STARTUP_S), process.output()
    assert not process.failed(), process.output()


def check_depth(msg: Any, frame_id: str) -> None:
    """Check a depth image of the camera's frame: 32FC1 metres, input size, header frame."""
    assert (msg.encoding, msg.width, msg.height) == ("32FC1", WIDTH, HEIGHT)
    assert msg.header.frame_id == frame_id
    depth = np.frombuffer(bytes(msg.data), np.float32)
    assert depth.size == WIDTH * HEIGHT and np.isfinite(depth).any()


def publishers(receiver: Listener, topic: str) -> set[tuple[str, str]]:
    """Return ``(node namespace, node name)`` of every publisher of ``topic``."""
    return {(info.node_namespace, info.node_name)
            for info in receiver.node.get_publishers_info_by_topic(topic)}


def parameter(receiver: Listener, node: str, name: str) -> Any:
    """Return parameter ``name`` of the remote node ``node`` (None if it does not answer)."""
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    response = call_service(receiver, GetParameters, f"{node}/get_parameters",
                            GetParameters.Request(names=[name]))
    return None if response is None else parameter_value_to_python(response.values[0])


def params_file(folder: Path, **params: Any) -> Path:
    """Write a user's parameters file (``/**: ros__parameters:``) with ``params``."""
    path = folder / "user_params.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    return path


def stop_cleanly(process: LaunchProcess) -> None:
    """SIGINT ends launch and ``tips_node`` with exit 0 and nothing logged as an error."""
    code = process.interrupt()
    output = process.output()
    assert code == 0, output
    assert not error_logged(output), output
    assert "[tips_node-1]: process has finished cleanly" in output, output
    assert not process.group_alive(), output


def test_tips_launch_serves_one_namespaced_camera(launch, receiver: Listener, tmp_path: Path,
                                                  tiny_models: tuple[Path, Path]):
    from sensor_msgs.msg import Image

    dpt, text = tiny_models
    receiver.subscribe(Image, "/front/depth")
    receiver.subscribe(Image, "/front/heatmaps")  # needs the text model given by text_model
    # the given arguments override the file: its models do not exist, it wants compressed input
    user = params_file(tmp_path, model=str(tmp_path / "absent"), text_model="absent/text",
                       input_compressed=True, max_batch=3, device="cpu")
    process = launch("tips.launch.py", namespace="front", image="/front/camera/image_raw",
                     params_file=str(user), model=str(dpt), text_model=str(text),
                     compressed="false")
    with camera("/front/camera/image_raw", "front_optical"):
        wait_for_messages(receiver, process, "/front/depth", "/front/heatmaps")
        check_depth(receiver.get("/front/depth")[0], "front_optical")
        assert publishers(receiver, "/front/depth") == {("/front", "tips_node")}
        assert parameter(receiver, "/front/tips_node", "text_model") == str(text)
        assert parameter(receiver, "/front/tips_node", "input_compressed") is False
        assert parameter(receiver, "/front/tips_node", "max_batch") == 3  # not given: the file's
        stop_cleanly(process)


def test_multi_camera_launch_serves_both_cameras_from_one_node(
        launch, receiver: Listener, tmp_path: Path, tiny_models: tuple[Path, Path]):
    from sensor_msgs.msg import Image

    dpt, text = tiny_models
    for name in ("front", "left"):
        receiver.subscribe(Image, f"/{name}/depth")
    user = params_file(tmp_path, model=str(tmp_path / "absent"), text_model="absent/text",
                       cameras=["back"], max_batch=5, device="cpu")
    process = launch("multi_camera.launch.py", params_file=str(user), cameras="[front, left]",
                     max_batch="2", model=str(dpt), text_model=str(text))
    with camera("/front/image", "front_optical"), camera("/left/image", "left_optical"):
        wait_for_messages(receiver, process, "/front/depth", "/left/depth")
        check_depth(receiver.get("/front/depth")[0], "front_optical")
        check_depth(receiver.get("/left/depth")[0], "left_optical")
        one_node = {("/", "tips_node")}
        assert publishers(receiver, "/front/depth") == one_node
        assert publishers(receiver, "/left/depth") == one_node
        assert process.output().count("process started with pid") == 1, process.output()
        assert parameter(receiver, "/tips_node", "max_batch") == 2
        assert parameter(receiver, "/tips_node", "cameras") == ["front", "left"]
        stop_cleanly(process)


@pytest.mark.parametrize("launch_file", ["tips.launch.py", "multi_camera.launch.py"])
def test_params_file_alone_configures_the_node(launch, receiver: Listener, tmp_path: Path,
                                               tiny_models: tuple[Path, Path], launch_file: str):
    """``params_file:=FILE`` and no other argument: every parameter as the file says."""
    dpt, text = tiny_models
    wanted = {"model": str(dpt), "text_model": str(text), "input_compressed": True,
              "max_batch": 3, "cameras": ["cam_a", "cam_b"]}
    process = launch(launch_file, params_file=str(params_file(tmp_path, device="cpu", **wanted)))
    wait_active(receiver, "/tips_node", process)  # configured: the file's models loaded
    assert {name: parameter(receiver, "/tips_node", name) for name in wanted} == wanted
    stop_cleanly(process)
