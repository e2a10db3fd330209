# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros replay`` on real bags and the tiny random model (no mocks)."""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import pty
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from mcap_ros2.reader import read_ros2_messages
from rosbags.highlevel import AnyReader
from rosbags.interfaces import QosDurability, QosReliability
from rosbags.typesys import Stores, get_typestore

from tips_ros.cli import replay as replay_command
from tips_ros.engine import Engine, EngineConfig, Prediction
from tips_ros.errors import UsageError
from tips_ros.io.imaging import encode_image
from tips_ros.io.outputs import CORE_IMAGE_TOPICS
from tips_ros.offline.bags import BagWriter, SYNTH_FRAME_ID, SYNTH_TOPICS, write_synth_bag
from tips_ros.offline.inputs import ground_truth
from tips_ros.offline.metrics import MetricsAccumulator
from tips_ros.offline.frame_loop import STAGES
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.replay import replay
from tips_ros.offline.report import write_json
from tips_ros.offline.scoring import HOLD_FRAMES, Scorer
from tips_ros.offline.synthetic import render_sequence

FRAMES, SIZE = 4, (128, 96)
QUERIES = ("floor", "a box")
GT = {"gt_depth_topic": SYNTH_TOPICS["depth"], "gt_normals_topic": SYNTH_TOPICS["normals"],
      "gt_labels_topic": SYNTH_TOPICS["labels"]}
STREAM_TOPICS = [*(t for t in CORE_IMAGE_TOPICS if t != "segmentation/confidence"),  # on request
                 "depth/camera_info", "points", "detections", "detections_3d"]
LATCHED_TOPICS = ["segmentation/labels", "heatmaps/queries", "segmentation/label_info"]


@pytest.fixture(scope="module")
def engine(tiny_models: tuple[Path, Path]) -> Engine:
    """Return a private engine: replay sets its queries."""
    dpt, text = tiny_models
    return Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                               precision="fp32"))


def options(bag: Path, output: Path, report: Path | None = None, **run) -> ReplayOptions:
    """Replay ``bag`` into ``output`` with the ``RunOptions`` fields ``run``."""
    return ReplayOptions(bag, output, RunOptions(**run), report=report)


def parsed(*argv: str) -> argparse.Namespace:
    """Return ``tips-ros replay`` arguments as the CLI parses them."""
    parser = argparse.ArgumentParser()
    replay_command.add_arguments(parser)
    return parser.parse_args(argv)


def counts_and_stamps(path: Path) -> tuple[dict[str, list[int]], dict[str, set[str]], dict]:
    """Header stamps (-1 without header) and frame ids per topic, and each topic's QoS."""
    stamps: dict[str, list[int]] = {}
    frames: dict[str, set[str]] = {}
    with AnyReader([path]) as reader:
        for conn, _, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            header = getattr(msg, "header", None)
            if header is not None:
                stamps.setdefault(conn.topic, []).append(
                    header.stamp.sec * 1_000_000_000 + header.stamp.nanosec)
                frames.setdefault(conn.topic, set()).add(header.frame_id)
            else:
                stamps.setdefault(conn.topic, []).append(-1)
        qos = {c.topic: c.ext.offered_qos_profiles[0] for c in reader.connections}
    return stamps, frames, qos


@pytest.mark.parametrize("storage", ["mcap", pytest.param("sqlite3", marks=pytest.mark.slow)])
def test_round_trip_one_message_per_frame_with_input_stamps(engine: Engine, tmp_path: Path,
                                                            storage: str):
    bag = write_synth_bag(tmp_path / "in", FRAMES, SIZE, storage=storage)
    out = tmp_path / "out"
    report = replay(options(bag, out, tmp_path / "r.json", image_topic=SYNTH_TOPICS["image"],
                            queries=QUERIES, batch=3, storage=storage, **GT), engine)
    expected = [f.stamp_ns for f in render_sequence(FRAMES, *SIZE)]
    stamps, frame_ids, qos = counts_and_stamps(out)
    assert sorted(stamps) == sorted("/tips/" + t for t in STREAM_TOPICS + LATCHED_TOPICS)
    for topic in STREAM_TOPICS:  # the vision_msgs arrays too: one per frame, input header
        assert stamps["/tips/" + topic] == expected, topic
        assert frame_ids["/tips/" + topic] == {SYNTH_FRAME_ID}
    for topic in LATCHED_TOPICS:
        assert len(stamps["/tips/" + topic]) == 1, topic
        assert qos["/tips/" + topic].durability == QosDurability.TRANSIENT_LOCAL
    assert qos["/tips/depth"].durability == QosDurability.VOLATILE
    assert all(q.reliability == QosReliability.RELIABLE for q in qos.values())
    assert report["frames_in"] == report["frames_out"] == FRAMES
    assert report["frames_scored"] == {"depth": FRAMES, "normals": FRAMES, "segmentation": FRAMES}
    assert json.loads((tmp_path / "r.json").read_text())["frames_out"] == FRAMES
    if storage == "mcap":
        decoded = [(m.channel.topic, m.ros_msg) for m in
                   read_ros2_messages(str(next(out.glob("*.mcap"))))]
        assert sum(t == "/tips/heatmaps" for t, _ in decoded) == FRAMES
        heatmap = next(msg for t, msg in decoded if t == "/tips/heatmaps")
        assert heatmap.encoding == "32FC2" and (heatmap.width, heatmap.height) == SIZE


def test_output_depth_is_the_engine_prediction(engine: Engine, tmp_path: Path):
    bag = write_synth_bag(tmp_path / "in", 2, SIZE)
    replay(options(bag, tmp_path / "out", image_topic=SYNTH_TOPICS["image"],
                   heads={"depth"}), engine)
    frame = next(render_sequence(1, *SIZE))
    expected = engine.infer([frame.rgb], heads=["depth"])[0].depth
    with AnyReader([tmp_path / "out"]) as reader:
        conn = next(c for c in reader.connections if c.topic == "/tips/depth")
        _, _, raw = next(reader.messages(connections=[conn]))
        msg = reader.deserialize(raw, conn.msgtype)
        topics = set(reader.topics)
    assert msg.encoding == "32FC1"
    np.testing.assert_array_equal(ground_truth("depth", msg), expected)
    assert "/tips/normals" not in topics and "/tips/points" in topics


def test_report_fields_and_finite_metrics(engine: Engine, tmp_path: Path):
    bag = write_synth_bag(tmp_path / "in", 3, SIZE)
    report = replay(options(bag, tmp_path / "out", image_topic=SYNTH_TOPICS["image"],
                            median_scaling=True, every=2, **GT), engine)
    assert set(report["versions"]) >= {"python", "tips_ros", "torch", "transformers", "rosbags"}
    for key in ("frames_in", "frames_out", "frames_failed", "failures", "fps", "latency_ms",
                "model", "device", "precision", "metrics", "median_scaling", "command",
                "versions"):
        assert key in report, key
    assert report["frames_in"] == 2 and report["median_scaling"] is True
    assert report["fps"] > 0 and report["latency_ms"]["p99"] >= report["latency_ms"]["p50"] > 0
    expected = {"depth": ("abs_rel", "rmse", "delta1", "delta2", "delta3"),
                "normals": ("mean_deg", "median_deg", "within_11_25", "within_22_5", "within_30"),
                "segmentation": ("miou", "pixel_acc")}
    for task, keys in expected.items():
        assert all(math.isfinite(report["metrics"][task][k]) for k in keys), task
    assert report["metrics"]["depth"]["median_scaling"] is True
    assert report["metrics"]["depth"]["scale"] != 1.0
    stages = report["stages_ms"]
    for kind in ("wall", "cpu"):
        assert list(stages[kind]) == list(STAGES)
        assert all(v >= 0 for v in stages[kind].values()), stages
        outside = sum(stages[kind][k] for k in ("read", "decode", "wait", "other"))
        assert stages["outside_engine"][kind] == pytest.approx(outside)
        assert stages["lanes"]["write"][kind] == pytest.approx(
            stages[kind]["encode"] + stages[kind]["write"])
        assert stages["lanes"]["score"][kind] == stages[kind]["metrics"]
    assert stages["outside_engine"]["host_cpu"] == pytest.approx(
        stages["outside_engine"]["cpu"] + sum(lane["cpu"] for lane in stages["lanes"].values()))
    assert report["frames_scored_on_device"] == report["frames_scored"]  # GT with its image
    assert all(stages["wall"][k] > 0 for k in ("read", "decode", "engine", "metrics", "encode",
                                               "write"))
    # the loop's stages, and each lane's, took no more than the whole replay
    loop = stages["outside_engine"]["wall"] + stages["wall"]["engine"]
    for part in (loop, *(lane["wall"] for lane in stages["lanes"].values())):
        assert part * report["frames_out"] <= report["wall_s"] * 1000


def test_reports_are_replaced_whole(tmp_path: Path):
    path = tmp_path / "new" / "report.json"
    write_json(path, {"frames_out": 1})
    write_json(path, {"frames_out": 2, "latency_ms": {"p50": None}})
    assert json.loads(path.read_text()) == {"frames_out": 2, "latency_ms": {"p50": None}}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no .partial left


def test_public_replay_loads_the_model_it_is_given(tiny_models: tuple[Path, Path],
                                                   tmp_path: Path):
    import tips_ros

    assert (tips_ros.replay, tips_ros.ReplayOptions) == (replay, ReplayOptions)
    dpt, text = tiny_models
    bag = write_synth_bag(tmp_path / "in", 2, SIZE)
    report = tips_ros.replay(tips_ros.ReplayOptions(bag, tmp_path / "out", tips_ros.RunOptions(
        image_topic=SYNTH_TOPICS["image"], model=str(dpt), text_model=str(text), device="cpu",
        precision="fp32", heads={"depth"})))
    assert report["frames_out"] == 2 and report["model"] == str(dpt)
    assert report["heads"] == ["depth"] and report["model_load_s"] > 0


def test_cli_arguments_and_options_agree(tmp_path: Path):
    args = parsed(str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--queries",
                  "floor, a box", "--heads", "depth,heatmaps", "--batch", "3", "--every", "2",
                  "--max-frames", "5", "--onnx-model", "m.onnx", "--report", "r.json", "--pace",
                  "--gt-depth-topic", "/depth")
    expected = ReplayOptions(tmp_path / "in", tmp_path / "out", RunOptions(
        queries=QUERIES, heads=frozenset({"depth", "heatmaps"}), batch=3, every=2, max_frames=5,
        onnx_model=Path("m.onnx"), gt_depth_topic="/depth"), pace=True, report=Path("r.json"))
    assert replay_command.options(args) == expected
    assert replay_command.options(parsed("in", "--output", "out")) == ReplayOptions(
        Path("in"), Path("out"))
    assert RunOptions(queries=["a"], heads=["depth"]) == RunOptions(queries=("a",),
                                                                    heads=frozenset({"depth"}))
    # the confidence view only when named, with the head it needs
    assert "segmentation_confidence" not in RunOptions().selected_heads()
    assert RunOptions(heads=["depth", "segmentation_confidence"]).selected_heads() == {
        "depth", "segmentation", "segmentation_confidence", "segmentation_color"}
    with pytest.raises(TypeError, match=r"tips_ros.cli.replay.options\(args\)"):
        replay(args)  # the parsed arguments themselves


@pytest.mark.parametrize("fields, message", [
    ({"heads": {"heatmaps"}}, "includes heatmaps but no --queries"),
    ({"heads": {"depth", "nope"}}, "heads must be among"),
    ({"heads": set()}, "heads must be among"),
    ({"gt_depth_topic": "/depth", "heads": {"normals"}}, "depth was given but --heads"),
    ({"batch": 0}, "batch must be a positive integer"),
    ({"every": -1}, "every must be a positive integer"),
    ({"max_frames": 0}, "max_frames must be a positive integer"),
    ({"storage": "zip"}, "storage must be one of mcap, sqlite3"),
])
def test_bad_options_are_one_sentence(fields: dict, message: str):
    with pytest.raises(UsageError, match=message) as raised:
        RunOptions(**fields)
    assert "\n" not in str(raised.value)


def test_scorer_matches_by_stamp_in_any_order_and_resizes():
    gt = np.full((4, 6), 2.0, dtype=np.float32)
    scorer = Scorer(["depth"], MetricsAccumulator())
    scorer.add_gt("depth", 10, gt)
    scorer.add_prediction(20, Prediction(depth=np.full((8, 12), 4.0, np.float32)))
    assert scorer.pending == 1  # stamp 20 has no ground truth yet
    scorer.add_prediction(10, Prediction(depth=np.full((8, 12), 2.0, np.float32)))
    scorer.add_gt("depth", 20, gt)
    report = scorer.metrics.report()["depth"]
    assert scorer.pending == 0 and scorer.scored["depth"] == 2
    assert report["abs_rel"] == pytest.approx(0.5) and report["delta1"] == pytest.approx(0.5)


def test_scorer_holds_a_bounded_number_of_predictions_for_ground_truth():
    """A bag with ground truth on some frames only does not keep every frame's outputs."""
    scorer = Scorer(["depth"], MetricsAccumulator())
    for stamp in range(HOLD_FRAMES + 10):
        scorer.add_prediction(stamp, Prediction(depth=np.ones((4, 6), np.float32)))
    assert scorer.pending == HOLD_FRAMES
    scorer.add_gt("depth", 5, np.ones((4, 6), np.float32))  # its prediction was dropped
    scorer.add_gt("depth", HOLD_FRAMES + 9, np.ones((4, 6), np.float32))
    assert scorer.scored["depth"] == 1 and scorer.pending == HOLD_FRAMES - 1


def test_16uc1_ground_truth_depth_is_millimetres():
    encoded = encode_image(np.array([[0, 1500]], np.uint16), "16UC1")
    msg = argparse.Namespace(**{**asdict(encoded), "data": np.frombuffer(encoded.data, np.uint8)})
    depth = ground_truth("depth", msg)
    assert np.isnan(depth[0, 0]) and depth[0, 1] == pytest.approx(1.5)


def write_mixed_bag(path: Path, typestore=None, storage: str = "mcap") -> tuple[np.ndarray, list]:
    """Image topic: rgb8, bgr8 (same picture), mono8, a bad encoding, then rgb8 again."""
    rgb = next(render_sequence(1, *SIZE)).rgb
    frames = [encode_image(rgb, "rgb8"), encode_image(rgb[:, :, ::-1], "bgr8"),
              encode_image(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), "mono8")]
    broken = replace(frames[0], encoding="rgb9")
    with BagWriter(path, storage=storage, typestore=typestore) as bag:
        for i, encoded in enumerate([*frames, broken, frames[0]]):
            bag.write_image("/cam/image", 1_000 + i, "cam", encoded)
    return rgb, frames


def test_bgr8_mono8_and_a_bad_encoding(engine: Engine, tmp_path: Path):
    write_mixed_bag(tmp_path / "in")
    report = replay(options(tmp_path / "in", tmp_path / "out", heads={"depth"}), engine)
    assert report["frames_in"] == 5 and report["frames_out"] == 4
    assert report["frames_failed"] == 1 and report["failures"] == {"unknown_encoding": 1}
    with AnyReader([tmp_path / "out"]) as reader:
        depths = [ground_truth("depth", reader.deserialize(raw, c.msgtype))
                  for c, _, raw in reader.messages()]
    np.testing.assert_array_equal(depths[0], depths[1])  # rgb8 and bgr8 of one picture
    np.testing.assert_array_equal(depths[0], depths[3])
    assert not np.array_equal(depths[0], depths[2])  # mono8 lost the colour


def test_humble_typestore_sqlite3_bag_reads(engine: Engine, tmp_path: Path):
    write_mixed_bag(tmp_path / "in", get_typestore(Stores.ROS2_HUMBLE), "sqlite3")
    report = replay(options(tmp_path / "in", tmp_path / "out", heads={"normals"}), engine)
    assert report["frames_out"] == 4


def test_jpeg_png_compressed_and_junk_frame(engine: Engine, tmp_path: Path):
    rgb = next(render_sequence(1, *SIZE)).rgb
    bgr = rgb[:, :, ::-1]
    blobs = [("jpeg", cv2.imencode(".jpg", bgr)[1].tobytes()),
             ("png", cv2.imencode(".png", bgr)[1].tobytes()),
             ("jpeg", b"\xff\xd8\xff\xe0 this is not a jpeg"),
             ("png", cv2.imencode(".png", bgr)[1].tobytes())]
    with BagWriter(tmp_path / "in") as bag:
        for i, (fmt, data) in enumerate(blobs):
            bag.write_compressed("/cam/image_raw/compressed", 5_000 + i, "cam", fmt, data)
    report = replay(options(tmp_path / "in", tmp_path / "out", heads={"segmentation"},
                            batch=2), engine)
    assert (report["frames_in"], report["frames_out"]) == (4, 3)
    assert report["failures"] == {"decode_failed": 1}
    stamps, _, _ = counts_and_stamps(tmp_path / "out")
    assert stamps["/tips/segmentation"] == [5_000, 5_001, 5_003]


# ----------------------------------------------------------------------------- real CLI
def tips_ros(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tips_ros.cli", *args], capture_output=True,
                          text=True, timeout=300, **kwargs)


def model_args(tiny_models: tuple[Path, Path]) -> list[str]:
    return ["--model", str(tiny_models[0]), "--text-model", str(tiny_models[1]), "--device", "cpu"]


@pytest.mark.slow
def test_cli_missing_topic_lists_topics(tiny_models, tmp_path: Path):
    bag = write_synth_bag(tmp_path / "in", 1, (32, 24))
    result = tips_ros("replay", str(bag), "--output", str(tmp_path / "out"), "--image-topic",
                      "/nope", *model_args(tiny_models))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "/nope" in result.stderr and SYNTH_TOPICS["labels"] in result.stderr


@pytest.mark.slow
def test_cli_corrupt_bag_keeps_frames_done(tiny_models, tmp_path: Path):
    bag = write_synth_bag(tmp_path / "in", 5, (32, 24), storage="sqlite3")
    db = sqlite3.connect(next(bag.glob("*.db3")))
    (topic_id,) = db.execute("select id from topics where name = ?",
                             (SYNTH_TOPICS["image"],)).fetchone()
    rows = [r for (r,) in db.execute("select id from messages where topic_id = ? "
                                     "order by timestamp", (topic_id,))]
    db.execute("update messages set data = ? where id = ?", (b"\x00\x01\x00\x00\x05", rows[3]))
    db.commit()
    db.close()
    report = tmp_path / "r.json"
    result = tips_ros("replay", str(bag), "--output", str(tmp_path / "out"),
                      "--image-topic", SYNTH_TOPICS["image"], "--report", str(report),
                      *model_args(tiny_models))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "corrupt" in result.stderr
    stamps, _, _ = counts_and_stamps(tmp_path / "out")
    assert len(stamps["/tips/depth"]) == 3
    assert json.loads(report.read_text())["frames_out"] == 3


@pytest.mark.slow
def test_cli_truncated_bag_is_one_sentence(tiny_models, tmp_path: Path):
    bag = write_synth_bag(tmp_path / "in", 3, (32, 24))
    mcap = next(bag.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    result = tips_ros("replay", str(bag), "--output", str(tmp_path / "out"),
                      "--image-topic", SYNTH_TOPICS["image"], *model_args(tiny_models))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "corrupt" in result.stderr


@pytest.mark.slow
def test_cli_out_of_memory_drops_the_batch_and_goes_on(tiny_models, tmp_path: Path):
    """An injected device out-of-memory costs one batch, as in the node (test_reliability).

    Seven frames at ``--batch 4``: engine call 1 (frames 1-4) raises a real
    ``torch.OutOfMemoryError``; its frames are failed (``out_of_memory``), the batch halves to
    2, frames 5-7 are processed (calls of 2 and 1), exit 0, and the report says so.
    """
    bag = write_synth_bag(tmp_path / "in", 7, (32, 24))
    report = tmp_path / "r.json"
    result = tips_ros("replay", str(bag), "--output", str(tmp_path / "out"), "--image-topic",
                      SYNTH_TOPICS["image"], "--batch", "4", "--report", str(report),
                      *model_args(tiny_models),
                      env={**os.environ, "TIPS_ROS_FAULTS": "oom@1"})
    assert result.returncode == 0, result.stderr[-3000:]
    written = json.loads(report.read_text())
    assert (written["frames_in"], written["frames_out"], written["frames_failed"]) == (7, 3, 4)
    assert written["failures"] == {"out_of_memory": 4}
    assert written["out_of_memory"] == {"events": 1, "batch_limit": 2}
    assert "out_of_memory" in result.stdout  # the table shows the failures by reason
    inputs, _, _ = counts_and_stamps(bag)
    stamps, _, _ = counts_and_stamps(tmp_path / "out")
    assert stamps["/tips/depth"] == inputs[SYNTH_TOPICS["image"]][4:]  # the first batch dropped


class TerminalOutput:
    """A pseudo-terminal for a child's stderr, read continuously in a thread.

    tqdm shows its progress bar only on a terminal with a width; the thread keeps the child
    from ever blocking on a full pipe.
    """

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        self.text = ""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the child closed its end
                return
            if not chunk:
                return
            self.text += chunk.decode(errors="replace")

    def frames_done(self) -> int:
        """Return the newest ``N/TOTAL`` count of the progress bar (0 before the first)."""
        counts = re.findall(r"(\d+)/\d+ \[", self.text)
        return int(counts[-1]) if counts else 0

    def close(self) -> str:
        """Wait for the child's last output (after it exited); everything it wrote."""
        os.close(self.slave)
        self._thread.join(timeout=60)
        os.close(self.master)
        return self.text


@pytest.mark.slow
def test_cli_sigint_leaves_a_readable_bag_and_report(tiny_models, tmp_path: Path):
    """Send SIGINT once a frame is written: exit 130, the bag readable, the report says so.

    The frame is seen on the progress bar, however slow the machine (the run takes 20 s
    paced, more on a loaded machine); the report says interrupted and counts the frames done.
    """
    bag = write_synth_bag(tmp_path / "in", 200, (32, 24))  # 20 s at the recorded 10 fps
    out, report = tmp_path / "out", tmp_path / "r.json"
    terminal = TerminalOutput()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tips_ros.cli", "replay", str(bag), "--output", str(out),
         "--image-topic", SYNTH_TOPICS["image"], "--pace", "--report", str(report),
         *model_args(tiny_models)], stdout=subprocess.DEVNULL, stderr=terminal.slave)
    try:
        deadline = time.monotonic() + 300  # only reached when the replay is broken
        while terminal.frames_done() < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert terminal.frames_done() >= 1 and proc.poll() is None, terminal.text
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
    finally:
        proc.kill()
        proc.wait()
        stderr = terminal.close()
    assert proc.returncode == 130, stderr
    stamps, _, _ = counts_and_stamps(out)
    done = json.loads(report.read_text())
    assert done["interrupted"] is True
    assert 0 < len(stamps["/tips/depth"]) == done["frames_out"] < 200
