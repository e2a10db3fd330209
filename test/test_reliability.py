# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Reliability suite: malformed and unusual input, query abuse, faults and overload.

Real rclpy; the node runs in its own process with the tiny model on the CPU; inputs are
published from this test process. After every bad input a good frame must be processed (its
depth arrives with its stamp) and the process must be alive; /diagnostics must count each
rejection by reason. The README's reliability table summarises these cases.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from lifecycle_msgs.msg import Transition
from PIL import Image as PILImage
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from ros_harness import (
    WAIT_S, Listener, NodeProcess, change_state, node_params, diagnostic_values, lifecycle_state,
    set_parameter,
)

from tips_ros.io.imaging import SUPPORTED_ENCODINGS, pixel_size

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

W, H = 64, 48
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
BEST_EFFORT_LATEST = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


def params(tiny_models, **extra):
    return node_params(tiny_models, diagnostics_period=0.2, text_queries=["a", "b"], **extra)


class Stamper:
    """Distinct, increasing stamps (seconds) for the frames of one test."""

    def __init__(self) -> None:
        self.sec = 1000

    def new(self) -> int:
        self.sec += 1
        return self.sec


def image(stamp: int, encoding="rgb8", width=W, height=H, step=None, data=None, frame_id="cam",
          bigendian=0) -> Image:
    msg = Image()
    msg.header.stamp.sec = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height, msg.encoding, msg.is_bigendian = width, height, encoding, bigendian
    if encoding in SUPPORTED_ENCODINGS and step is None:
        step = width * pixel_size(encoding)
    msg.step = step or 0
    if data is None:
        rng = np.random.default_rng(stamp)
        data = rng.integers(0, 256, (msg.step or width) * height, dtype=np.uint8).tobytes()
    msg.data = data
    return msg


def float_image(stamp: int, values: np.ndarray) -> Image:
    data = values.astype("<f4").tobytes()
    return image(stamp, "32FC1", values.shape[1], values.shape[0], data=data)


class Driver:
    """Publishes bad and good frames and checks the node keeps processing."""

    def __init__(self, listener: Listener, ns: str, compressed: bool = False) -> None:
        self.listener, self.ns = listener, ns
        self.topic = f"{ns}/image/compressed" if compressed else f"{ns}/image"
        self.pub = listener.node.create_publisher(
            CompressedImage if compressed else Image, self.topic, RELIABLE)
        self.good_pub = self.pub
        listener.subscribe(Image, f"{ns}/depth", RELIABLE)
        self.stamps = Stamper()

    def wait_connected(self, node: NodeProcess) -> None:
        assert self.listener.wait_for(lambda: self.pub.get_subscription_count() > 0), node.log()

    def depth_stamps(self) -> set[int]:
        return {m.header.stamp.sec for m in self.listener.get(f"{self.ns}/depth")}

    def send(self, node: NodeProcess, msg, counted: Callable[[], bool]) -> None:
        """Publish ``msg`` and wait until ``counted()``: the diagnostics show it was handled.

        A frame sent earlier would replace it in the node's keep-latest slot.
        """
        self.pub.publish(msg)
        assert self.listener.wait_for(counted), node.log()[-3000:]

    def reject(self, node: NodeProcess, msg, expected: Counter) -> None:
        """Send a bad frame; wait until the node's rejection counts reach ``expected``."""
        self.send(node, msg, lambda: rejected_counts(self.listener, self.ns) == expected)

    def good_frame_processed(self, node: NodeProcess, good) -> None:
        stamp = good.header.stamp.sec
        self.pub.publish(good)
        assert self.listener.wait_for(lambda: stamp in self.depth_stamps()), node.log()[-3000:]
        assert node.alive()


def rejected_counts(listener: Listener, ns: str) -> Counter:
    values = diagnostic_values(listener, f"{ns}/tips_node: input")
    return Counter({k.split(".", 1)[1]: int(v) for k, v in values.items()
                    if k.startswith("rejected.")})


def test_malformed_and_unusual_raw_images(tiny_models, listener):
    ns = "/rel"
    driver = Driver(listener, ns)
    expected = Counter()
    with NodeProcess(params(tiny_models), ros_args=["-r", f"__ns:={ns}"]) as node:
        driver.wait_connected(node)
        s = driver.stamps
        cases: list[tuple[str, Image, str | None]] = []
        nan_inf = np.where(np.arange(W * H).reshape(H, W) % 3 == 0, np.nan, np.inf)
        # every encoding the node claims to support: processed
        for encoding in sorted(SUPPORTED_ENCODINGS):
            cases.append((f"supported {encoding}", image(s.new(), encoding), None))
        cases += [
            ("big-endian mono16", image(s.new(), "mono16", bigendian=1), None),
            ("NaN/Inf 32FC1", float_image(s.new(), nan_inf), None),
            ("empty frame_id", image(s.new(), frame_id=""), None),
            ("data longer than step x height", image(s.new(), data=bytes(W * 3 * H + 999)), None),
            ("row padding", image(s.new(), step=W * 3 + 16, data=bytes((W * 3 + 16) * H)), None),
            # unsupported encodings: rejected
            ("encoding jpeg in a raw Image", image(s.new(), "jpeg", step=W * 3),
             "unknown_encoding"),
            ("encoding 64FC1", image(s.new(), "64FC1", step=W * 8), "unknown_encoding"),
            ("empty encoding", image(s.new(), "", step=W * 3), "unknown_encoding"),
            ("encoding RGB8 (wrong case)", image(s.new(), "RGB8", step=W * 3),
             "unknown_encoding"),
            ("encoding 16SC1", image(s.new(), "16SC1", step=W * 2), "unknown_encoding"),
            # dimensions and sizes
            ("zero width", image(s.new(), width=0, data=b"x" * 10), "bad_dimensions"),
            ("zero height", image(s.new(), height=0, data=b"x" * 10), "bad_dimensions"),
            ("100000x100000 with 10 bytes",
             image(s.new(), width=100000, height=100000, data=b"0123456789"), "too_large"),
            ("odd width yuv422", image(s.new(), "yuv422", width=W - 1, step=(W - 1) * 2,
                                       data=bytes((W - 1) * 2 * H)), "bad_dimensions"),
            ("step too small", image(s.new(), step=W * 3 - 1), "step_too_small"),
            ("data short by one byte", image(s.new(), data=bytes(W * 3 * H - 1)),
             "data_too_short"),
            ("no data", image(s.new(), data=b""), "data_too_short"),
        ]
        assert len(cases) >= 30
        for name, msg, reason in cases:
            if reason is None:
                driver.good_frame_processed(node, msg)
            else:
                expected[reason] += 1
                driver.reject(node, msg, expected)
                driver.good_frame_processed(node, image(s.new()))
        # stamps going backwards are processed (and noted)
        driver.good_frame_processed(node, image(5))
        # a junk serialized message straight onto the topic
        expected["malformed_message"] += 1
        driver.reject(node, b"\x00\x01\x00\x00" + os.urandom(40), expected)
        driver.good_frame_processed(node, image(s.new()))
        assert rejected_counts(listener, ns) == expected
        values = diagnostic_values(listener, f"{ns}/tips_node: input")
        assert int(values["noted.stamp_backwards"]) >= 1
        assert int(values["noted.empty_frame_id"]) >= 1
        assert node.alive()


def jpeg(seed: int, quality: int = 90) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes()


def png16() -> bytes:
    out = io.BytesIO()
    ramp = (np.arange(W * H).reshape(H, W) * 20).astype(np.uint16)
    PILImage.fromarray(ramp).save(out, format="PNG")
    return out.getvalue()


def compressed(stamp: int, data: bytes, fmt: str = "jpeg") -> CompressedImage:
    msg = CompressedImage()
    msg.header.stamp.sec = stamp
    msg.header.frame_id = "cam"
    msg.format, msg.data = fmt, data
    return msg


def test_malformed_compressed_images(tiny_models, listener):
    ns = "/relc"
    driver = Driver(listener, ns, compressed=True)
    settings = params(tiny_models, input_compressed=True)
    with NodeProcess(settings, ros_args=["-r", f"__ns:={ns}"]) as node:
        driver.wait_connected(node)
        s, good = driver.stamps, jpeg(1)
        driver.good_frame_processed(node, compressed(s.new(), good))
        driver.good_frame_processed(node, compressed(s.new(), png16(), "png"))
        bad = [b"", b"not an image at all", good[: len(good) // 2], os.urandom(500), png16()[:60]]
        for count, data in enumerate(bad, 1):
            driver.reject(node, compressed(s.new(), data), Counter(decode_failed=count))
            driver.good_frame_processed(node, compressed(s.new(), good))
        assert rejected_counts(listener, ns) == Counter(decode_failed=len(bad))


def raw_string(data: bytes) -> bytes:
    """Serialize a std_msgs/String whose payload is ``data`` (may be invalid UTF-8)."""
    return b"\x00\x01\x00\x00" + (len(data) + 1).to_bytes(4, "little") + data + b"\x00"


def test_query_abuse_keeps_previous_queries(tiny_models, listener):
    ns = "/relq"
    driver = Driver(listener, ns)
    listener.subscribe(Image, f"{ns}/heatmaps", RELIABLE)
    queries = listener.node.create_publisher(String, f"{ns}/queries", LATCHED)
    with NodeProcess(params(tiny_models, max_queries=16, max_query_length=100),
                     ros_args=["-r", f"__ns:={ns}"]) as node:
        driver.wait_connected(node)
        bad = {
            "empty": serialize_message(String(data="[]")),
            "too_many": serialize_message(String(data=json.dumps([f"q{i}" for i in range(1000)]))),
            "too_long": serialize_message(String(data="x" * 10_000)),
            "not_utf8": raw_string(b"\xff\xfe\xfa bad"),
            "malformed_json": serialize_message(String(data='["floor", ')),
            "empty_query": serialize_message(String(data="floor, , wall")),
        }
        engine = lambda: diagnostic_values(listener, f"{ns}/tips_node: engine")  # noqa: E731
        for reason, payload in bad.items():
            queries.publish(payload)
            assert listener.wait_for(lambda: engine().get(f"queries_rejected.{reason}") == "1"), (
                reason, engine())
            driver.good_frame_processed(node, image(driver.stamps.new()))
            heat = listener.get(f"{ns}/heatmaps")[-1]
            assert heat.encoding == "32FC2", reason  # still the two startup queries
        assert all(engine().get(f"queries_rejected.{r}") == "1" for r in bad), engine()


def test_out_of_memory_drops_frame_and_continues(tiny_models, listener):
    ns = "/reloom"
    driver = Driver(listener, ns)
    # engine calls are counted from the first one: no warm-up, so calls 2 and 3 are camera frames
    with NodeProcess(params(tiny_models, warmup=False), ros_args=["-r", f"__ns:={ns}"],
                     env={"TIPS_ROS_FAULTS": "oom@2,oom@3"}) as node:
        driver.wait_connected(node)
        driver.good_frame_processed(node, image(driver.stamps.new()))
        lost = [driver.stamps.new(), driver.stamps.new()]
        engine = lambda: diagnostic_values(listener, f"{ns}/tips_node: engine")  # noqa: E731
        for events, stamp in enumerate(lost, 1):
            driver.send(node, image(stamp), lambda: engine().get("oom_events") == str(events))
        driver.good_frame_processed(node, image(driver.stamps.new()))
        assert not set(lost) & driver.depth_stamps()
        engine = engine()
        assert engine["_level"] == "1" and "out-of-memory" in engine["_message"]
        assert int(engine["batch_limit"]) == 1
        assert "device out of memory" in node.log()


def test_stale_camera_warns_and_recovers(tiny_models, listener):
    """Input status OK while frames arrive, WARN "stale" while silent, OK again after.

    WARN once the camera is silent for stale_after, OK again when frames resume. Frames are
    sent one at a time, each once the previous one's depth has arrived (no drops), until the
    status shows; stale_after (5 s) is long enough for a loaded machine's pauses between
    frames.
    """
    ns = "/relstale"
    driver = Driver(listener, ns)
    status = lambda: diagnostic_values(listener, f"{ns}/tips_node: input")  # noqa: E731

    def stream_until(predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not predicate() and time.monotonic() < deadline:
            driver.good_frame_processed(node, image(driver.stamps.new()))
        assert predicate(), status()

    with NodeProcess(params(tiny_models, stale_after=5.0), ros_args=["-r", f"__ns:={ns}"]) as node:
        driver.wait_connected(node)
        stream_until(lambda: status().get("_message") == "receiving")
        assert status()["_level"] == "0"
        assert listener.wait_for(lambda: status().get("_message", "").startswith("stale")), (
            status())
        assert status()["_level"] == "1"
        stream_until(lambda: status().get("_level") == "0")
        assert status()["_message"] == "receiving"


def test_missing_or_corrupt_model_then_reconfigure(tiny_models, listener, tmp_path: Path):
    import shutil

    dpt, _ = tiny_models
    corrupt = tmp_path / "corrupt_dpt"
    shutil.copytree(dpt, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    pickle_only = tmp_path / "pickle_dpt"
    shutil.copytree(dpt, pickle_only)
    (pickle_only / "model.safetensors").rename(pickle_only / "pytorch_model.bin")
    for ns, model in (("/relcorrupt", corrupt), ("/relpickle", pickle_only)):
        bad = params(tiny_models, model=str(model))
        with NodeProcess(bad, ros_args=["-r", f"__ns:={ns}"]) as node:
            assert listener.wait_for(
                lambda: lifecycle_state(listener, f"{ns}/tips_node") == "unconfigured")
            assert listener.wait_for(lambda: diagnostic_values(
                listener, f"{ns}/tips_node: engine").get("_level") == "2")
            assert node.alive() and "configure failed" in node.log()
            assert set_parameter(listener, f"{ns}/tips_node", "model", str(dpt)).successful
            assert change_state(listener, f"{ns}/tips_node", Transition.TRANSITION_CONFIGURE)


def test_cuda_requested_on_a_machine_without_cuda(tiny_models, listener):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")  # CI and the dev machines have none
    cuda = params(tiny_models, device="cuda")
    with NodeProcess(cuda, ros_args=["-r", "__ns:=/relcuda"]) as node:
        assert listener.wait_for(
            lambda: lifecycle_state(listener, "/relcuda/tips_node") == "unconfigured")
        log = node.log()  # one sentence with the fix, no traceback
        assert node.alive() and "is a CPU-only build; install a CUDA build" in log
        assert "or set device to cpu or auto" in log and "Traceback" not in log
    auto = params(tiny_models, device="auto")
    with NodeProcess(auto, ros_args=["-r", "__ns:=/relauto"]) as node:
        assert listener.wait_for(
            lambda: lifecycle_state(listener, "/relauto/tips_node") == "active")
        assert "running the model on the CPU" in node.log()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def sample_rss(pid: int, seconds: float) -> list[float]:
    samples, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(rss_mb(pid))
        time.sleep(0.1)
    return samples


def test_overload_keeps_latency_and_memory_flat(tiny_models, listener):
    """Input at >= 3x the node's rate for 50 s: frame age and memory do not grow; drops counted.

    The frame-age bounds are in units of the node's own measured run time in the same 10 s
    window, so they hold on a machine of any speed or load: a queue (latency accumulating)
    would exceed them by many run times after 50 s of overload.
    """
    from ros_harness import start_publisher

    ns = "/relload"
    for topic in ("depth", "normals", "segmentation/color", "heatmaps"):
        listener.subscribe(Image, f"{ns}/{topic}", BEST_EFFORT_LATEST)
    with NodeProcess(params(tiny_models), ros_args=["-r", f"__ns:={ns}"]) as node, \
            start_publisher("--topic", f"{ns}/image", "--frames", "0", "--rate", "30"):
        status = lambda: diagnostic_values(listener, f"{ns}/tips_node: input")  # noqa: E731
        # measured from the 30th frame on: allocator pools and buffers have grown to their
        # working size by then (from the 10th, the floor still rose by up to 60 MB and then
        # stayed: 648 -> 706 MB in one run, 692 -> 700 in the next), also on a loaded machine
        # where the first frames come slowly
        assert listener.wait_for(lambda: int(status().get("frames_processed", 0)) >= 30), (
            node.log())
        start = time.monotonic()
        # Each frame allocates and frees a few hundred MB of temporaries (150-class logits at
        # 640x480), so RSS swings between samples; the floor of an 8 s window is what a leak
        # would raise. Three windows 21 s apart. What this catches: a queue (30 Hz of 0.9 MB
        # frames against a few processed per second: ~500 MB a step) or outputs kept per
        # processed frame (~10 MB each: hundreds of MB a step). What it tolerates: the
        # allocator's warm-up, which on a loaded machine still raises the floor for a minute
        # and then stays (glibc's per-thread arenas; in CI 645 -> 721 MB in one step, and
        # 640 -> 666 -> 723 MB; idle, +0.2..+4 MB in five runs; it ends near 720 MB).
        windows = []
        for index in range(3):
            time.sleep(max(0.0, 21 * index - (time.monotonic() - start)))
            windows.append((min(sample_rss(node.proc.pid, 8.0)), status()))
        assert node.alive()
    (_, early), (_, late) = windows[0], windows[-1]
    in_rate, out_rate = float(late["input_rate_hz"]), float(late["output_rate_hz"])
    assert in_rate >= 3 * out_rate, (in_rate, out_rate)
    for window in (early, late):
        # keep-latest: a frame waits at most about one model run (plus one input period)
        period_ms = 1000.0 / float(window["input_rate_hz"])
        bound = period_ms + 2 * float(window["latency_p99_ms"]) + 100.0
        assert float(window["frame_age_p99_ms"]) <= bound, (early, late)
    assert int(late["frames_dropped"]) > int(late["frames_processed"])
    floors = [floor for floor, _ in windows]
    steps = [later - earlier for earlier, later in zip(floors, floors[1:])]
    assert max(steps) < 120.0 and floors[-1] - floors[0] < 200.0, floors
