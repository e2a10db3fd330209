# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``depth/camera_info``: one builder, so replay writes what the node publishes.

Also for a rectified stereo camera (R != I, P with a baseline) calibrated at another
resolution.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import CameraInfo

from ros_harness import NodeProcess, node_params, ros_env

from tips_ros.offline.bags import BagWriter
from tips_ros.io.camera_info import Calibration, CameraInfoError, depth_camera_info
from tips_ros.engine import Engine, EngineConfig
from tips_ros.io.imaging import encode_image
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.replay import replay

WAIT_S = 180.0  # limit of every wait for an event (loaded CI machine)
CALIBRATED = (1280, 960)  # calibration size; the stream is 640x480
IMAGE = (640, 480)
ANGLE = 0.02
# the right camera of a rectified stereo pair: K with skew, R a small rotation, P with Tx
K = np.array([[1000.0, 0.5, 640.5], [0.0, 1002.0, 470.25], [0.0, 0.0, 1.0]])
R = np.array([[np.cos(ANGLE), 0.0, np.sin(ANGLE)], [0.0, 1.0, 0.0],
              [-np.sin(ANGLE), 0.0, np.cos(ANGLE)]])
P = np.array([[980.0, 0.0, 630.0, -980.0 * 0.12], [0.0, 980.0, 480.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
D = (-0.1, 0.02, 0.001, -0.002, 0.0)


def info(width: int = CALIBRATED[0], height: int = CALIBRATED[1], k: np.ndarray = K):
    return SimpleNamespace(width=width, height=height, distortion_model="plumb_bob", d=D,
                           k=k.reshape(9), r=R.reshape(9), p=P.reshape(12))


def expected(width: int, height: int, source: tuple[int, int] = CALIBRATED):
    """K and P of a ``width x height`` image: S @ K, S @ P, with pixel centres at integers."""
    sx, sy = width / source[0], height / source[1]
    scale = np.array([[sx, 0.0, (sx - 1) / 2], [0.0, sy, (sy - 1) / 2], [0.0, 0.0, 1.0]])
    return scale @ K, scale @ P


def check(msg, width: int, height: int, source: tuple[int, int] = CALIBRATED) -> None:
    k, p = expected(width, height, source)
    assert (msg.width, msg.height, msg.distortion_model) == (width, height, "plumb_bob")
    np.testing.assert_allclose(np.asarray(msg.k).reshape(3, 3), k, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(np.asarray(msg.p).reshape(3, 4), p, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(np.asarray(msg.r).reshape(3, 3), R)
    np.testing.assert_array_equal(np.asarray(msg.d), D)


def test_scales_k_and_p_keeps_r_and_guards_unset_sizes():
    check(depth_camera_info(info(), *IMAGE), *IMAGE)
    check(depth_camera_info(info(), *CALIBRATED), *CALIBRATED)  # same size: unchanged
    unset = depth_camera_info(info(0, 0), *CALIBRATED)  # calibration size unset: the image's
    check(unset, *CALIBRATED, source=CALIBRATED)
    with pytest.raises(CameraInfoError) as err:  # unset size, K of a larger image
        depth_camera_info(info(0, 0), *IMAGE)
    assert err.value.reason == "principal_point"
    with pytest.raises(CameraInfoError) as err:
        depth_camera_info(info(k=np.zeros((3, 3))), *IMAGE)
    assert err.value.reason == "uncalibrated"


def write_bag(path: Path, width: int, height: int) -> None:
    """Two 640x480 frames on /cam/image_raw, each after its /cam/camera_info (same stamp)."""
    rgb = np.random.default_rng(0).integers(0, 256, (IMAGE[1], IMAGE[0], 3), dtype=np.uint8)
    with BagWriter(path, storage="mcap") as bag:
        types = bag.typestore.types
        for index in range(2):
            stamp = 1_000_000_000 * (index + 1)
            msg = types["sensor_msgs/msg/CameraInfo"](
                header=bag.header(stamp, "right_optical"), height=height, width=width,
                distortion_model="plumb_bob", d=np.array(D), k=K.reshape(9), r=R.reshape(9),
                p=P.reshape(12), binning_x=0, binning_y=0,
                roi=types["sensor_msgs/msg/RegionOfInterest"](
                    x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
            bag.write("/cam/camera_info", "sensor_msgs/msg/CameraInfo", stamp, msg)
            bag.write_image("/cam/image_raw", stamp, "right_optical", encode_image(rgb, "rgb8"))


def replayed_camera_info(tmp_path: Path, engine: Engine, width: int,
                         height: int) -> tuple[list, dict]:
    """Return the depth/camera_info messages of a replay and its report."""
    write_bag(tmp_path / f"in{width}", width, height)
    output = tmp_path / f"out{width}"
    report = replay(ReplayOptions(tmp_path / f"in{width}", output,
                                  RunOptions(heads={"depth"})), engine)
    with AnyReader([output]) as reader:
        connections = [c for c in reader.connections if c.topic == "/tips/depth/camera_info"]
        if not connections:  # (messages(connections=[]) would read every topic)
            return [], report
        return [reader.deserialize(raw, c.msgtype)
                for c, _, raw in reader.messages(connections=connections)], report


@pytest.fixture(scope="module")
def engine(tiny_models: tuple[Path, Path]) -> Engine:
    dpt, text = tiny_models
    return Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                               precision="fp32"))


@pytest.mark.slow
def test_replay_writes_what_the_node_publishes(tmp_path, engine, tiny_models, listener):
    replayed, report = replayed_camera_info(tmp_path, engine, *CALIBRATED)
    assert len(replayed) == 2 and report["camera_info_rejected"] == {}
    for msg in replayed:
        check(msg, *IMAGE)
    # no division by a zero width; K of a 1280x960 image does not fit 640x480: rejected once
    unset, report = replayed_camera_info(tmp_path, engine, 0, 0)
    assert unset == [] and report["camera_info_rejected"] == {"principal_point": 1}

    listener.subscribe(CameraInfo, "/ci/depth/camera_info")
    publisher = listener.node.create_publisher(
        CameraInfo, "/ci/camera_info", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    message = CameraInfo(width=CALIBRATED[0], height=CALIBRATED[1], distortion_model="plumb_bob",
                         d=list(D), k=K.reshape(9).tolist(), r=R.reshape(9).tolist(),
                         p=P.reshape(12).tolist())
    camera = subprocess.Popen(
        [sys.executable, "-m", "tips_ros.tools.camera_sim", "--topic", "/ci/image",
         "--frames", "100000", "--rate", "4", "--width", str(IMAGE[0]), "--height", str(IMAGE[1])],
        env=ros_env(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        with NodeProcess(node_params(tiny_models, warmup=False),
                         ros_args=["-r", "__ns:=/ci"]) as node:
            def received() -> bool:
                publisher.publish(message)  # until the node has it (no fixed wait for discovery)
                return bool(listener.get("/ci/depth/camera_info"))

            assert listener.wait_for(received, WAIT_S), node.log()
            published = listener.get("/ci/depth/camera_info")[-1]
    finally:
        camera.kill()
        camera.wait()
    check(published, *IMAGE)
    for field in ("k", "r", "p", "d"):
        np.testing.assert_array_equal(np.asarray(getattr(published, field)),
                                      np.asarray(getattr(replayed[0], field)), err_msg=field)
    assert (published.width, published.height) == (replayed[0].width, replayed[0].height)


def hostile(**fields) -> SimpleNamespace:
    """info() of the image size with ``fields`` replaced (a camera_info message stand-in)."""
    base = info(*CALIBRATED)
    base.header = SimpleNamespace(frame_id="right_optical")
    for name, value in fields.items():
        setattr(base, name, value)
    return base


NAN_K = K.copy()
NAN_K[0, 2] = np.nan
NEGATIVE_K = K.copy()
NEGATIVE_K[1, 1] = -1002.0
TINY_K = K.copy()
TINY_K[0, 0] = 1e-9
INF_P = P.copy()
INF_P[0, 3] = np.inf
#: (camera_info fields, reason of the rejection) for a 640x480 image in frame right_optical
REJECTED = [
    ({"k": NAN_K.reshape(9)}, "non_finite"),
    ({"k": np.full(9, np.inf)}, "non_finite"),
    ({"p": INF_P.reshape(12)}, "non_finite"),
    ({"r": np.full(9, np.nan)}, "non_finite"),
    ({"d": (np.nan, 0.0, 0.0, 0.0, 0.0)}, "non_finite"),
    ({"width": 2**32 - 1, "height": 2**32 - 1}, "calibration_size"),
    ({"width": 2**32 - 1, "height": 3 * (2**32 - 1) // 4}, "calibration_size"),  # 4:3, too big
    ({"width": 1, "height": 1}, "calibration_size"),
    ({"width": 1280, "height": 0}, "calibration_size"),
    ({"width": 1280, "height": 720}, "calibration_size"),  # another aspect ratio
    ({"k": NEGATIVE_K.reshape(9)}, "focal_length"),
    ({"k": TINY_K.reshape(9)}, "focal_length"),
    ({"k": np.zeros(9)}, "uncalibrated"),
    ({"header": SimpleNamespace(frame_id="left_optical")}, "frame_id"),
    ({"d": np.zeros(100_000)}, "distortion"),
    ({"d": np.zeros(6)}, "distortion"),  # plumb_bob has five
    ({"distortion_model": "equidistant", "d": np.zeros(5)}, "distortion"),
    ({"distortion_model": "custom", "d": np.zeros(15)}, "distortion"),
]
ACCEPTED = [
    {},
    {"width": 2560, "height": 1920},  # another resolution, same aspect ratio: scaled
    {"width": 0, "height": 0, "k": expected(*IMAGE)[0].reshape(9)},  # unset size: the image's
    {"d": ()},  # no distortion
    {"distortion_model": "rational_polynomial", "d": np.zeros(8)},
    {"header": SimpleNamespace(frame_id="")},  # no frame id: not another camera's
]


@pytest.mark.parametrize(("fields", "reason"), REJECTED)
def test_rejects_a_hostile_camera_info_with_one_sentence(fields, reason):
    with pytest.raises(CameraInfoError) as err:
        depth_camera_info(hostile(**fields), *IMAGE, "right_optical")
    assert err.value.reason == reason
    assert len(str(err.value)) < 200 and "\n" not in str(err.value)


@pytest.mark.parametrize("fields", ACCEPTED)
def test_accepts_a_plausible_camera_info(fields):
    model = depth_camera_info(hostile(**fields), *IMAGE, "right_optical")
    assert np.isfinite(model.k).all() and model.k[0, 0] > 0
    assert (model.width, model.height) == IMAGE


def test_calibration_is_checked_once_per_change():
    calibration = Calibration()
    assert calibration.model(*IMAGE, "right_optical") == (None, None, False)  # none yet
    bad = hostile(k=NAN_K.reshape(9))
    calibration.update(bad)
    model, error, changed = calibration.model(*IMAGE, "right_optical")
    assert model is None and error.reason == "non_finite" and changed
    calibration.update(hostile(k=NAN_K.reshape(9)))  # the same calibration again (NaN too)
    assert calibration.model(*IMAGE, "right_optical")[1:] == (error, False)
    calibration.update(hostile())
    model, error, changed = calibration.model(*IMAGE, "right_optical")
    assert error is None and changed and model.width == IMAGE[0]
    assert calibration.model(*CALIBRATED, "right_optical")[2]  # another image size: checked
