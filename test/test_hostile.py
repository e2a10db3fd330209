# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""A careless or hostile operator's corpus, one node process (or command) per class.

Each case asserts that the node stays up, says why on /diagnostics (or the command exits with
one sentence), and that the next good frame is published. The README's reliability table
counts the cases of each class.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from ros_harness import (
    NodeProcess, change_state, diagnostic_values, get_parameters, node_params, ros_env,
    set_parameter, set_parameters_atomically, wait_active,
)

from tips_ros.io.outputs import CLOUD_DTYPE
from tips_ros.offline.arguments import Size
from tips_ros.engine.parameters import SPEC_BY_NAME

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

W, H = 64, 48
FRAME = "cam_optical"
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def image(stamp: int) -> Image:
    """Return a random rgb8 ``W x H`` frame in ``FRAME`` with header stamp ``stamp`` seconds."""
    msg = Image(width=W, height=H, encoding="rgb8", step=3 * W)
    msg.header.stamp.sec, msg.header.frame_id = stamp, FRAME
    msg.data = np.random.default_rng(stamp).integers(0, 256, 3 * W * H, np.uint8).tobytes()
    return msg


def camera_info(**fields) -> CameraInfo:
    """Return a valid ``W x H`` pinhole camera_info in ``FRAME``, with ``fields`` replaced."""
    k = np.array([[50.0, 0.0, 31.5], [0.0, 50.0, 23.5], [0.0, 0.0, 1.0]])
    msg = CameraInfo(width=W, height=H, distortion_model="plumb_bob", d=[0.0] * 5,
                     k=k.reshape(9).tolist(), r=np.eye(3).reshape(9).tolist(),
                     p=np.hstack([k, np.zeros((3, 1))]).reshape(12).tolist())
    msg.header.frame_id = FRAME
    for name, value in fields.items():
        if name == "frame_id":
            msg.header.frame_id = value
        else:
            setattr(msg, name, value)
    return msg


def k_with(**entries: float) -> list[float]:
    """Return the valid K with ``fx``, ``fy``, ``cx``, ``cy`` entries replaced."""
    k = camera_info().k.tolist()
    for name, value in entries.items():
        k[{"fx": 0, "fy": 4, "cx": 2, "cy": 5}[name]] = value
    return k


#: (case, camera_info fields, reason counted on /diagnostics as camera_info_rejected.<reason>)
HOSTILE_CAMERA_INFO = [
    ("NaN in K", {"k": k_with(cx=float("nan"))}, "non_finite"),
    ("infinite focal length", {"k": k_with(fx=float("inf"))}, "non_finite"),
    ("negative focal length", {"k": k_with(fy=-50.0)}, "focal_length"),
    ("focal length 1e-9", {"k": k_with(fx=1e-9, fy=1e-9)}, "focal_length"),
    ("zero K (uncalibrated)", {"k": [0.0] * 9}, "uncalibrated"),
    ("calibration size 2^32-1 square", {"width": 2**32 - 1, "height": 2**32 - 1},
     "calibration_size"),
    ("calibration size 1x1", {"width": 1, "height": 1}, "calibration_size"),
    ("calibration size 64x0", {"height": 0}, "calibration_size"),
    ("calibration 4:3 but 4096x larger", {"width": W * 4096, "height": H * 4096},
     "calibration_size"),
    ("principal point outside the image", {"k": k_with(cx=5000.0)}, "principal_point"),
    ("another camera's frame_id", {"frame_id": "other_optical"}, "frame_id"),
    ("100,000-entry D", {"d": [0.0] * 100_000}, "distortion"),
    ("equidistant with 5 coefficients", {"distortion_model": "equidistant", "d": [0.0] * 5},
     "distortion"),
    ("NaN in D", {"d": [float("nan")] + [0.0] * 4}, "non_finite"),
    ("infinite Tx in P", {"p": [*camera_info().p.tolist()[:3], float("inf"),
                                *camera_info().p.tolist()[4:]]}, "non_finite"),
    ("NaN in R", {"r": [float("nan")] * 9}, "non_finite"),
]


class Camera:
    """Publishes frames and camera_info to the node in namespace ``ns``; records its outputs."""

    def __init__(self, listener, ns: str) -> None:
        self.listener, self.ns = listener, ns
        self.image_pub = listener.node.create_publisher(Image, f"{ns}/image", RELIABLE)
        self.info_pub = listener.node.create_publisher(CameraInfo, f"{ns}/camera_info", RELIABLE)
        for msg_type, topic in ((Image, "depth"), (PointCloud2, "points"),
                                (CameraInfo, "depth/camera_info")):
            listener.subscribe(msg_type, f"{ns}/{topic}", RELIABLE)
        self.stamp = 1000

    def stamps(self, topic: str) -> set[int]:
        return {m.header.stamp.sec for m in self.listener.get(f"{self.ns}/{topic}")}

    def status(self) -> dict[str, str]:
        return diagnostic_values(self.listener, f"{self.ns}/tips_node: input")

    def frame(self, node: NodeProcess) -> int:
        """Publish a frame; return its stamp once its depth is published."""
        self.stamp += 1
        stamp = self.stamp
        self.image_pub.publish(image(stamp))
        assert self.listener.wait_for(lambda: stamp in self.stamps("depth")), node.log()[-3000:]
        return stamp

    def until(self, node: NodeProcess, info: CameraInfo, done) -> int:
        """Publish ``info`` and frames until ``done()``; return the stamp of the last frame.

        Frames go on after ``info`` until the node has taken it (no fixed wait for discovery).
        """
        stamp = 0
        for _ in range(200):
            self.info_pub.publish(info)
            stamp = self.frame(node)
            if done():
                return stamp
        raise AssertionError(f"not done: {self.status()}\n{node.log()[-3000:]}")


def rejected(values: dict[str, str]) -> Counter:
    return Counter({k.split(".", 1)[1]: int(v) for k, v in values.items()
                    if k.startswith("camera_info_rejected.")})


def test_hostile_camera_info(tiny_models, listener):
    """Each bad camera_info: counted with its reason, no points or depth/camera_info, depth on."""
    ns = "/hostile_info"
    camera = Camera(listener, ns)
    settings = node_params(tiny_models, warmup=False, publish_points=True, compute_all=True,
                           diagnostics_period=0.2)
    with NodeProcess(settings, ros_args=["-r", f"__ns:={ns}"]) as node:
        assert listener.wait_for(lambda: camera.image_pub.get_subscription_count() > 0 and
                                 camera.info_pub.get_subscription_count() > 0), node.log()
        good = camera_info()
        camera.until(node, good, lambda: camera.status().get("camera_info") == "valid")
        expected = Counter()
        for case, fields, reason in HOSTILE_CAMERA_INFO:
            expected[reason] += 1
            camera.until(node, camera_info(**fields),
                         lambda: rejected(camera.status()) == expected)
            status = camera.status()
            assert status["_level"] == "1" and reason in status["_message"], (case, status)
            # the next good frame: depth published, nothing built from the bad calibration
            stamp = camera.frame(node)
            assert stamp not in camera.stamps("points") | camera.stamps("depth/camera_info"), case
            # a valid camera_info again: points resume, finite and dense
            stamp = camera.until(node, good, lambda: camera.status().get("camera_info") ==
                                 "valid" and camera.stamp in camera.stamps("points"))
            cloud = next(m for m in listener.get(f"{ns}/points") if m.header.stamp.sec == stamp)
            points = np.frombuffer(bytes(cloud.data), CLOUD_DTYPE)
            xyz = np.stack([points["x"], points["y"], points["z"]])
            assert cloud.is_dense and np.isfinite(xyz).all() and np.abs(xyz).max() < 1e4, case
            assert node.alive(), case
        log = node.log()
        assert "Traceback" not in log
        # one warning per change: at least one per case, each naming its reason
        assert log.count("camera_info rejected:") >= len(HOSTILE_CAMERA_INFO), log[-3000:]


# ------------------------------------------------------------------ offline commands, files
def namespace_command() -> list[str] | None:
    """Return the command prefix that runs a process in a private mount namespace, if any.

    Its mounts (a read-only and a size-limited tmpfs) vanish with it: nothing to clean up.
    """
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    command = ["unshare", *user, "--mount"]
    try:
        ok = subprocess.run([*command, "true"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return command if ok else None


def tips_ros(*argv: str) -> tuple[int, list[str]]:
    """Run ``tips-ros ARGV`` in this process; return its exit code and its stderr lines."""
    from tips_ros import cli

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(list(argv))
    return code, stderr.getvalue().splitlines()


def bag_frames(path: Path) -> dict[str, int]:
    """Return the message count of each topic of the bag at ``path`` (read with rosbags)."""
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as reader:
        counts = Counter(c.topic for c, _, _ in reader.messages())
    return dict(counts)


def offline_cases(work: Path) -> list[dict]:
    """Run the offline corpus in ``work`` (``ro``: read-only, ``full*``: 3 MiB tmpfs)."""
    models = ["--model", str(work / "m/dpt"), "--text-model", str(work / "m/text"),
              "--device", "cpu"]
    replay = ["replay", str(work / "in"), "--image-topic", "/camera/image_raw", *models]
    (work / "a_file").write_text("x")
    cases = [
        ("--output under a file", [*replay, "--output", str(work / "a_file/out")], 2),
        ("--output in a read-only folder", [*replay, "--output", str(work / "ro/out")], 2),
        ("--output exists", [*replay, "--output", str(work / "in")], 2),
        ("--report in a read-only folder",
         [*replay, "--output", str(work / "o1"), "--report", str(work / "ro/r.json")], 2),
        ("--report under a file",
         [*replay, "--output", str(work / "o2"), "--report", str(work / "a_file/r.json")], 2),
        ("--report is a folder",
         [*replay, "--output", str(work / "o3"), "--report", str(work / "m")], 2),
        ("--preview in a read-only folder",
         [*replay, "--output", str(work / "o4"), "--preview", str(work / "ro/p.png")], 2),
        ("bag missing", ["replay", str(work / "nothing"), "--output", str(work / "o5"),
                         *models], 2),
        ("malformed metadata.yaml", ["replay", str(work / "bad_meta"), "--output",
                                     str(work / "o6"), *models], 2),
        ("image topic without messages", ["replay", str(work / "empty"), "--output",
                                          str(work / "o7"), *models], 2),
        ("evaluate --output in a read-only folder",
         ["evaluate", str(work / "in"), "--output", str(work / "ro/ev"), *models], 2),
        ("make-test-model in a read-only folder", ["make-test-model", str(work / "ro/m")], 2),
        ("synth-bag on a full disk",
         ["synth-bag", str(work / "full2/synth"), "--frames", "400", "--size", "128x96"], 1),
        ("replay on a full disk (missing --report folders are made)",
         [*replay, "--output", str(work / "full/out"), "--report",
          str(work / "reports/new/r.json")], 1),
    ]
    results = []
    for name, argv, expected in cases:
        started = time.monotonic()
        code, lines = tips_ros(*argv)
        results.append({"case": name, "code": code, "expected": expected, "stderr": lines,
                        "seconds": time.monotonic() - started})
    results[-2]["bag"] = bag_frames(work / "full2/synth")
    results[-1]["bag"] = bag_frames(work / "full/out")
    results[-1]["report"] = json.loads((work / "reports/new/r.json").read_text())
    return results


def write_inputs(work: Path, models: tuple[Path, Path]) -> None:
    """Write the corpus inputs: a synthetic bag, a malformed and an empty one, the models."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from tips_ros.offline.bags import write_synth_bag

    shutil.copytree(models[0].parent, work / "m")
    write_synth_bag(work / "in", frames=12, size=Size(128, 96))
    shutil.copytree(work / "in", work / "bad_meta")
    (work / "bad_meta/metadata.yaml").write_text("rosbag2_bagfile_information: [\n  : - :\n")
    writer = Writer(work / "empty", version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image",
                          typestore=get_typestore(Stores.ROS2_JAZZY))
    writer.close()


def test_hostile_offline_commands(tiny_models, tmp_path):
    """Each bad path: exit 2 with one sentence before any model loads; a full disk: exit 1.

    Run in a private mount namespace (one process for the whole corpus) with a read-only
    tmpfs and a 3 MiB tmpfs: a real full disk, the bag still readable with the frames kept.
    """
    unshare = namespace_command()
    if unshare is None:
        pytest.skip("no private mount namespace here (unshare): cannot make a full disk")
    write_inputs(tmp_path, tiny_models)
    (tmp_path / "ro").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full2").mkdir()
    script = (f"mount -t tmpfs -o ro,size=1m tmpfs {tmp_path}/ro && "
              f"mount -t tmpfs -o size=3m tmpfs {tmp_path}/full && "
              f"mount -t tmpfs -o size=3m tmpfs {tmp_path}/full2 && "
              f"exec {sys.executable} {__file__} {tmp_path}")
    done = subprocess.run([*unshare, "sh", "-c", script], capture_output=True, text=True,
                          env=ros_env(), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for result in results:
        case, lines = result["case"], result["stderr"]
        assert result["code"] == result["expected"], result
        assert len(lines) == 1 and lines[0].startswith("tips-ros "), result
        assert "Traceback" not in lines[0] and len(lines[0]) < 400, result
        if result["expected"] == 2 and case.startswith(("--", "evaluate")):
            assert result["seconds"] < 60, result  # refused before any model loaded
    synth, replayed = results[-2], results[-1]
    kept = synth["bag"]["/camera/image_raw"]
    assert 0 < kept < 400 and f"keeps {kept} frame(s)" in synth["stderr"][0]
    assert set(synth["bag"].values()) <= {1, kept}  # whole frames only (names: once)
    frames = replayed["report"]["frames_out"]
    assert 0 < frames < 12 and f"keeps the {frames} frame(s)" in replayed["stderr"][0]
    assert replayed["bag"]["/tips/depth"] == frames and "No space left" in replayed["stderr"][0]
    assert set(replayed["bag"].values()) <= {1, frames}
    assert replayed["report"]["error"] and replayed["report"]["frames_in"] >= frames


def test_symlinked_bags_are_followed_once(tmp_path):
    """Evaluate follows a symlink to a bag and a symlinked folder; a link loop ends."""
    from tips_ros.offline.bags import write_synth_bag
    from tips_ros.offline.evaluate import find_bags

    write_synth_bag(tmp_path / "store/b1", frames=1, size=Size(16, 16))
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "linked_bag").symlink_to(tmp_path / "store/b1")
    (data / "sub/loop").symlink_to(data)  # data/sub/loop/sub/loop/...
    (data / "again").symlink_to(tmp_path / "store")  # b1 a second time
    found = find_bags([str(data)], tmp_path / "out")
    assert [bag for bag, _ in found] == [(tmp_path / "store/b1").resolve()]


def test_written_files_follow_the_umask(tmp_path):
    """make-test-model weights: 0644 under umask 022 (were 0600), 0600 under umask 077."""
    from tips_ros.engine.testmodel import write_test_models

    for umask, mode in ((0o022, 0o644), (0o077, 0o600)):
        old = os.umask(umask)
        try:
            dpt, _ = write_test_models(tmp_path / f"m{umask:o}", "tiny")
        finally:
            os.umask(old)
        assert (dpt / "model.safetensors").stat().st_mode & 0o777 == mode


if __name__ == "__main__":  # the offline corpus inside its mount namespace (see above)
    WORK = Path(sys.argv[1])
    (WORK / "results.json").write_text(json.dumps(offline_cases(WORK)))


# ------------------------------------------------------------------ run-time parameters
#: (case, parameter, value, whether the node's own check gives the reason: rclpy refuses a
#: wrong type of a statically typed parameter itself, also with a reason and no crash)
HOSTILE_PARAMETERS = [
    ("text_queries an integer", "text_queries", 5, True),
    ("text_queries a boolean", "text_queries", True, True),
    ("text_queries a plain string", "text_queries", "chair", True),
    ("text_queries a list of integers", "text_queries", [1, 2], True),
    ("prompt_templates a float", "prompt_templates", 0.5, True),
    ("cameras an integer", "cameras", 3, True),
    ("cameras a plain string", "cameras", "front", True),
    ("template with a named field", "prompt_templates", ["a photo of {x}"], True),
    ("template with a numbered field", "prompt_templates", ["a photo of {0}"], True),
    ("template with a lone brace", "prompt_templates", ["a { photo"], True),
    ("zeroshot template with two fields", "zeroshot_templates", ["{} and {}"], True),
    ("max_queries below the current list", "max_queries", 1, True),
    ("max_batch a string", "max_batch", "8", False),
    ("publish_points an integer", "publish_points", 1, False),
    ("heatmap_temperature out of range", "heatmap_temperature", 50.0, False),
]


def test_hostile_parameters(tiny_models, listener):
    """Bad parameters at start-up and at run time: refused with a reason, the node serves on.

    One node: started with three bad overrides (defaults used), then each bad change refused
    (the previous queries kept, the next frame published), a limit and a list in one atomic
    request, a template x query product over the bound, an injected frame-path failure
    (/diagnostics ERROR, then OK again by itself), a valid query change applied, and a
    configure-time change applied at the next configure.
    """
    from lifecycle_msgs.msg import Transition

    ns = "/hostile_params"
    name = f"{ns}/tips_node"
    camera = Camera(listener, ns)
    settings = node_params(tiny_models, warmup=False, compute_all=True, diagnostics_period=0.2,
                           text_queries=5, max_batch=1000, cameras="front")
    engine = lambda: diagnostic_values(listener, f"{name}: engine")  # noqa: E731
    queries = lambda: get_parameters(listener, name, ["text_queries"])["text_queries"]  # noqa
    with NodeProcess(settings, ros_args=["-r", f"__ns:={ns}"],
                     env={"TIPS_ROS_FAULTS": "error@3"}) as node:
        wait_active(listener, name, node)
        assert listener.wait_for(lambda: camera.image_pub.get_subscription_count() > 0)
        rejected = engine()
        assert rejected["parameters_rejected.text_queries"] == "1", rejected
        for param in ("max_batch", "cameras"):
            assert rejected.get(f"parameters_rejected.{param}") == "1", node.log()[:3000]
        default = list(SPEC_BY_NAME["text_queries"].default)
        assert queries() == default and json.loads(rejected["queries"]) == default
        camera.frame(node)
        camera.frame(node)
        # the third engine call fails: ERROR with the reason, then OK again by itself
        camera.image_pub.publish(image(camera.stamp + 1))
        assert listener.wait_for(lambda: "injected failure" in engine()["_message"]), node.log()
        assert engine()["_level"] == "2"
        camera.stamp += 1
        camera.frame(node)
        assert listener.wait_for(lambda: engine()["_level"] == "0"), engine()
        cases = [(case, lambda p=p, v=v: set_parameter(listener, name, p, v), p, ours)
                 for case, p, v, ours in HOSTILE_PARAMETERS]
        cases += [
            ("a limit and a longer list in one request", lambda: set_parameters_atomically(
                listener, name, {"max_queries": 2, "text_queries": ["a", "b", "c"]}),
             "text_queries", True),
            ("255 queries x 8 templates", lambda: set_parameters_atomically(
                listener, name, {"max_queries": 255,
                                 "text_queries": [f"q{i}" for i in range(255)],
                                 "prompt_templates": [f"{{}} {i}" for i in range(8)]}),
             "text_queries", True),
        ]
        for case, request, param, ours in cases:
            before = int(engine().get(f"parameters_rejected.{param}", "0"))
            result = request()
            assert result is not None and not result.successful, case
            assert result.reason and "\n" not in result.reason, (case, result.reason)
            if ours:
                assert listener.wait_for(lambda: int(engine().get(
                    f"parameters_rejected.{param}", "0")) > before), case
            assert node.alive() and queries() == default, case
            camera.frame(node)  # the next frame is published
        # a valid change is applied: the engine's queries are what get_parameters says
        assert set_parameter(listener, name, "text_queries", ["mug", "lamp"]).successful
        assert listener.wait_for(lambda: json.loads(engine()["queries"]) == ["mug", "lamp"])
        assert queries() == ["mug", "lamp"]
        # a configure-time parameter: accepted while active, applied at the next configure
        assert set_parameter(listener, name, "cameras", ["front"]).successful
        camera.frame(node)  # still served on the old topics
        for transition in (Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP,
                           Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert change_state(listener, name, transition), (transition, node.log()[-3000:])
        assert listener.wait_for(lambda: diagnostic_values(listener, f"{name}: front")), \
            node.log()[-3000:]
        log = node.log()
        assert "Traceback" not in log and node.alive()
        assert log.count("parameter change rejected:") >= 14, log[-3000:]
