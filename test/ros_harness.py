# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Real-ROS test harness: the node and camera publishers in their own processes, listeners here.

All processes share a ROS_DOMAIN_ID chosen per test session and discover peers on localhost
only (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST), so tests never send DDS traffic elsewhere.

Tests run on loaded machines (CI: 2 cores, other jobs beside it). They wait for events (node
active, counter moved, log line seen) and never for fixed times; every wait has the generous
limit ``WAIT_S``, which only matters when something is really broken.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: node logs of this test process; removed when the process exits
LOG_DIR = tempfile.TemporaryDirectory(prefix="tips_node_logs_")
# Limit of any wait for an event, seconds. Only reached when something is broken; large because
# on a machine shared by many jobs (load 30 on 2 cores) importing the node alone took 55 s.
WAIT_S = 300.0


def ros_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 100))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env["RCUTILS_LOGGING_BUFFERED_STREAM"] = "0"  # node logs reach the log file at once
    env.update(extra)
    return env


def configure_this_process() -> None:
    """Give the test process the same ROS environment as the processes it starts."""
    for key, value in ros_env().items():
        if key.startswith("ROS_"):
            os.environ[key] = value


class NodeProcess:
    """``tips_node`` run exactly as launch would: params file, -p overrides, remappings."""

    def __init__(self, params: dict[str, Any] | None = None, remaps: dict[str, str] | None = None,
                 params_file: Path | None = REPO / "config" / "tips.yaml",
                 env: dict[str, str] | None = None,
                 ros_args: Iterable[str] = ()) -> None:
        script = Path(sys.executable).with_name("tips_node")  # the installed console script
        args = [str(script) if script.exists() else sys.executable, "--ros-args"]
        if not script.exists():
            args[1:1] = ["-m", "tips_ros.ros.startup"]
        if params_file is not None:
            args += ["--params-file", str(params_file)]
        for name, value in (params or {}).items():
            args += ["-p", f"{name}:={_yaml(value)}"]
        for src, dst in (remaps or {}).items():
            args += ["-r", f"{src}:={dst}"]
        args += list(ros_args)
        self.args = args
        self.env = ros_env(**(env or {}))
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def __enter__(self) -> NodeProcess:
        fd, name = tempfile.mkstemp(prefix="tips_node_", suffix=".log", dir=LOG_DIR.name)
        self.log_path = Path(name)
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=fd,
                                     stderr=subprocess.STDOUT, cwd=REPO)
        os.close(fd)
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGINT, timeout: float = WAIT_S) -> tuple[int, float]:
        """Send ``sig``; return (exit code, seconds to exit); killed (-9) after ``timeout`` s."""
        assert self.proc is not None
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, time.monotonic() - start

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            self.stop()


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(f"'{v}'" if isinstance(v, str) else str(v) for v in value) + "]"
    return str(value)


def node_params(tiny_models: tuple[Path, Path], **extra: Any) -> dict[str, Any]:
    """Parameters that run the node on the tiny test model on the CPU, plus ``extra``."""
    dpt, text = tiny_models
    return {"model": str(dpt), "text_model": str(text), "device": "cpu", **extra}


class CameraProcess:
    """The camera stand-in ``python -m tips_ros.tools.camera_sim ARGS`` in its own process.

    Its output (a ``sent <stamp_ns>`` line per frame) goes to a file, so a long run never
    blocks on a full pipe. With ``--frames 0`` it publishes until :meth:`stop`; leaving the
    ``with`` block stops it too.
    """

    def __init__(self, *args: str) -> None:
        self.out = tempfile.NamedTemporaryFile("w+", prefix="camera_sim_", suffix=".log")
        self.proc = subprocess.Popen([sys.executable, "-m", "tips_ros.tools.camera_sim", *args],
                                     env=ros_env(), stdout=self.out, stderr=subprocess.STDOUT)

    def __enter__(self) -> CameraProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.out.close()

    def output(self) -> str:
        return Path(self.out.name).read_text()

    def sent(self) -> set[int]:
        """Header stamps (ns) of the frames sent so far."""
        lines = self.output().splitlines()
        return {int(line.split()[1]) for line in lines if line.startswith("sent ")}

    def wait(self, timeout: float = WAIT_S) -> set[int]:
        """Wait for a run of ``--frames N`` to end; the stamps it sent."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.returncode == 0, (self.proc.returncode, self.output()[-3000:])
        return self.sent()

    def stop(self) -> set[int]:
        """SIGINT (it finishes the frame being sent and exits 0); the stamps it sent."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait()


def start_publisher(*args: str) -> CameraProcess:
    """Start the camera stand-in with ``ARGS`` (see :mod:`tips_ros.tools.camera_sim`)."""
    return CameraProcess(*args)


class Listener:
    """An rclpy node in the test process that records messages per topic."""

    def __init__(self, name: str = "test_listener") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        configure_this_process()
        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node(name)
        self.messages: dict[str, list[Any]] = defaultdict(list)
        self._subscriptions: dict[str, list[Any]] = defaultdict(list)
        self.lock = threading.Lock()
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._running = True
        self._thread.start()

    def _spin(self) -> None:
        while self._running:
            self.executor.spin_once(timeout_sec=0.05)

    def subscribe(self, msg_type: Any, topic: str, qos: Any = None) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        qos = qos or QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)

        def record(msg: Any, topic: str = topic) -> None:
            with self.lock:
                self.messages[topic].append(msg)

        subscription = self.node.create_subscription(msg_type, topic, record, qos)
        self._subscriptions[topic].append(subscription)

    def unsubscribe(self, topic: str) -> None:
        """Destroy this listener's subscriptions to ``topic`` (recorded messages stay)."""
        for subscription in self._subscriptions.pop(topic, []):
            self.node.destroy_subscription(subscription)

    def get(self, topic: str) -> list[Any]:
        with self.lock:
            return list(self.messages[topic])

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
        """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.node.destroy_node()


def diagnostic_values(listener: Listener, status_suffix: str) -> dict[str, str]:
    """Key/values of the newest /diagnostics status whose name ends with ``status_suffix``."""
    for array in reversed(listener.get("/diagnostics")):
        for status in array.status:
            if status.name.endswith(status_suffix):
                return {kv.key: kv.value for kv in status.values} | {
                    "_level": str(status.level[0]), "_message": status.message}
    return {}


def call_service(listener: Listener, srv_type: Any, name: str, request: Any,
                 timeout: float = 30.0, retry: bool = True) -> Any:
    """Call a service of another process from the listener's node; the response or None.

    On a loaded machine a reply can be lost: the server answers before it has discovered this
    client's reply reader (it logs "failed to send response") and drops it. With ``retry``
    (for requests that may be repeated) the request is sent again after ``timeout`` seconds
    without a reply, until ``WAIT_S``.
    """
    client = listener.node.create_client(srv_type, name)
    deadline = time.monotonic() + WAIT_S
    try:
        if not client.wait_for_service(timeout_sec=WAIT_S):
            return None
        while True:
            future = client.call_async(request)
            attempt_end = min(deadline, time.monotonic() + timeout)
            while not future.done() and time.monotonic() < attempt_end:
                time.sleep(0.02)
            if future.done():
                return future.result()
            client.remove_pending_request(future)
            if not retry or time.monotonic() >= deadline:
                return None
    finally:
        listener.node.destroy_client(client)


def set_parameter(listener: Listener, node_name: str, name: str, value: Any) -> Any:
    """Set one parameter of a remote node; the SetParametersResult."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
    response = call_service(listener, SetParameters, f"{node_name}/set_parameters", request)
    return None if response is None else response.results[0]


def set_parameters_atomically(listener: Listener, node_name: str, values: dict[str, Any]) -> Any:
    """Set several parameters of a remote node in one request; the SetParametersResult."""
    from rcl_interfaces.srv import SetParametersAtomically
    from rclpy.parameter import Parameter

    request = SetParametersAtomically.Request(
        parameters=[Parameter(name, value=value).to_parameter_msg()
                    for name, value in values.items()])
    response = call_service(listener, SetParametersAtomically,
                            f"{node_name}/set_parameters_atomically", request)
    return None if response is None else response.result


def get_parameters(listener: Listener, node_name: str, names: list[str]) -> dict[str, Any]:
    """Return the values of parameters ``names`` of a remote node ({} if it does not answer)."""
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    response = call_service(listener, GetParameters, f"{node_name}/get_parameters",
                            GetParameters.Request(names=names))
    if response is None:
        return {}
    return {name: parameter_value_to_python(value)
            for name, value in zip(names, response.values)}


def change_state(listener: Listener, node_name: str, transition_id: int) -> bool:
    """Trigger a lifecycle transition (lifecycle_msgs/msg/Transition ids); return its success.

    Sent once (a repeat would be an invalid transition); if the reply is lost, the success is
    read from the state the node is in afterwards.
    """
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    goals = {Transition.TRANSITION_CONFIGURE: "inactive", Transition.TRANSITION_ACTIVATE: "active",
             Transition.TRANSITION_DEACTIVATE: "inactive",
             Transition.TRANSITION_CLEANUP: "unconfigured"}
    request = ChangeState.Request(transition=Transition(id=transition_id))
    response = call_service(listener, ChangeState, f"{node_name}/change_state", request,
                            timeout=60.0, retry=False)
    if response is None:
        return lifecycle_state(listener, node_name) == goals.get(transition_id)
    return bool(response.success)


def lifecycle_state(listener: Listener, node_name: str) -> str:
    """Return the lifecycle state label of a remote node ("" if its service does not answer)."""
    from lifecycle_msgs.srv import GetState

    response = call_service(listener, GetState, f"{node_name}/get_state", GetState.Request())
    return "" if response is None else response.current_state.label


def wait_active(listener: Listener, node_name: str, node: NodeProcess) -> None:
    """Wait until tips_node ``node_name`` (fully qualified) is active.

    Active: model loaded, subscriptions made. Seen on its /diagnostics engine status, not
    through the get_state service: on a loaded machine the server may not yet have discovered
    the client's reply reader, and then the reply is lost and the node logs "failed to send
    response".
    """
    from diagnostic_msgs.msg import DiagnosticArray

    if "/diagnostics" not in listener._subscriptions:
        listener.subscribe(DiagnosticArray, "/diagnostics")

    def active() -> bool:
        values = diagnostic_values(listener, f"{node_name}: engine")
        return "backbone_calls" in values and values["_message"] != "inactive"

    assert listener.wait_for(active), node.log()


def input_idle(listener: Listener, status_suffix: str) -> bool:
    """Return whether the newest input status shows the worker idle.

    Idle: every frame received is accounted for (processed, dropped, rejected or skipped),
    none is waiting or being processed.
    """
    values = diagnostic_values(listener, status_suffix)
    if not values:
        return False
    done = sum(int(values[k]) for k in (
        "frames_processed", "frames_dropped", "frames_rejected", "frames_without_subscribers"))
    return int(values["frames_received"]) == done
