# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Tests of rosbag2 writing and reading (rosbags, mcap) with synthetic bags."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import NonSeekingReader, SeekingReader
from mcap_ros2.reader import read_ros2_messages
from rosbags.highlevel import AnyReader
from rosbags.interfaces import QosDurability, QosReliability

from tips_ros.offline.bags import (
    SYNTH_TOPICS,
    BagError,
    BagWriter,
    iter_messages,
    open_bag,
    write_synth_bag,
)
from tips_ros.io.imaging import encode_image
from tips_ros.offline.mcap_storage import DIRECT_BYTES
from tips_ros.offline.synthetic import render_sequence

FRAMES, SIZE = 3, (64, 48)
DTYPES = {"rgb8": (np.uint8, 3), "mono8": (np.uint8, 1), "32FC1": ("<f4", 1), "32FC3": ("<f4", 3)}


def message_to_cvimage(msg: object) -> np.ndarray:
    """Decode a little-endian, packed Image message (the encodings written here)."""
    dtype, channels = DTYPES[msg.encoding]
    array = np.frombuffer(msg.data.tobytes(), dtype=dtype)
    assert msg.step == msg.width * channels * array.itemsize and msg.is_bigendian == 0
    shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    return array.reshape(shape)


STREAMS = [t for k, t in SYNTH_TOPICS.items() if k != "label_names"]


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def synth_bag(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp(request.param) / "bag"
    return write_synth_bag(path, frames=FRAMES, size=SIZE, storage=request.param, seed=1)


def _data_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in {".mcap", ".db3"})


def test_counts_stamps_and_round_trip(synth_bag: Path) -> None:
    expected = list(render_sequence(FRAMES, *SIZE, seed=1))
    with AnyReader([synth_bag]) as reader:
        counts = {t: info.msgcount for t, info in reader.topics.items()}
    assert counts == {**{t: FRAMES for t in STREAMS}, SYNTH_TOPICS["label_names"]: 1}
    by_stamp: dict[int, dict[str, object]] = {}
    with open_bag(synth_bag) as reader:
        for topic, msgtype, stamp, msg in iter_messages(reader, list(SYNTH_TOPICS.values())):
            by_stamp.setdefault(stamp, {})[topic] = msg
            if msgtype != "std_msgs/msg/String":
                assert msg.header.frame_id == "camera_optical_frame"
    assert sorted(by_stamp) == [f.stamp_ns for f in expected]
    for frame in expected:
        msgs = by_stamp[frame.stamp_ns]
        assert set(STREAMS) <= set(msgs)
        np.testing.assert_array_equal(message_to_cvimage(msgs["/camera/image_raw"]), frame.rgb)
        np.testing.assert_array_equal(message_to_cvimage(msgs["/camera/depth_gt"]), frame.depth)
        np.testing.assert_array_equal(message_to_cvimage(msgs["/camera/normals_gt"]),
                                      frame.normals)
        np.testing.assert_array_equal(message_to_cvimage(msgs["/camera/labels_gt"]),
                                      frame.labels)
        info = msgs["/camera/camera_info"]
        np.testing.assert_array_equal(info.k.reshape(3, 3), frame.K)
        assert (info.width, info.height) == SIZE
    names = json.loads(by_stamp[expected[0].stamp_ns][SYNTH_TOPICS["label_names"]].data)
    assert names["0"] == "wall" and names["3"] == "floor" and names["119"] == "ball"


def test_log_time_equals_header_stamp(synth_bag: Path) -> None:
    with AnyReader([synth_bag]) as reader:
        for connection, log_time, raw in reader.messages():
            msg = reader.deserialize(raw, connection.msgtype)
            if hasattr(msg, "header"):
                assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == log_time


def test_qos_recorded(synth_bag: Path) -> None:
    with AnyReader([synth_bag]) as reader:
        for connection in reader.connections:
            (qos,) = connection.ext.offered_qos_profiles
            assert qos.reliability == QosReliability.RELIABLE and qos.depth == 1
            latched = connection.topic == SYNTH_TOPICS["label_names"]
            assert qos.durability == (
                QosDurability.TRANSIENT_LOCAL if latched else QosDurability.VOLATILE
            )


def test_mcap_reads_with_mcap_library(tmp_path: Path) -> None:
    bag = write_synth_bag(tmp_path / "bag", frames=FRAMES, size=SIZE, storage="mcap")
    counts: dict[str, int] = {}
    for item in read_ros2_messages(str(_data_file(bag))):
        counts[item.channel.topic] = counts.get(item.channel.topic, 0) + 1
        if item.channel.topic == "/camera/depth_gt":
            msg = item.ros_msg
            assert msg.encoding == "32FC1" and (msg.width, msg.height) == SIZE
            assert item.log_time_ns == msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
    assert counts[SYNTH_TOPICS["image"]] == FRAMES and counts[SYNTH_TOPICS["label_names"]] == 1


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_keyboard_interrupt_leaves_readable_bag(tmp_path: Path, storage: str) -> None:
    path = tmp_path / "bag"
    image = encode_image(np.zeros((4, 5, 3), np.uint8), "rgb8")
    with pytest.raises(KeyboardInterrupt):
        with BagWriter(path, storage=storage) as bag:
            for i in range(3):
                bag.write_image("/img", 1000 + i, "cam", image)
            raise KeyboardInterrupt
    with open_bag(path) as reader:
        stamps = [s for _, _, s, _ in iter_messages(reader, ["/img"])]
    assert stamps == [1000, 1001, 1002]


def test_writer_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="storage"):
        BagWriter(tmp_path / "x", storage="rosbag1")
    with pytest.raises(FileExistsError, match="exists already"):
        BagWriter(tmp_path)


def test_missing_topic_lists_topics(synth_bag: Path) -> None:
    with open_bag(synth_bag) as reader:
        with pytest.raises(BagError, match="/nope.*/camera/depth_gt"):
            list(iter_messages(reader, ["/nope"]))


def test_missing_path_and_not_a_bag(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="does not exist"):
        with open_bag(tmp_path / "missing"):
            pass
    with pytest.raises(BagError, match="not a rosbag2"):
        with open_bag(tmp_path):
            pass


def _read_all(path: Path) -> None:
    with open_bag(path) as reader:
        list(iter_messages(reader, list(reader.topics)))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("damage", ["truncate", "junk"])
def test_corrupt_bag_raises_bag_error(tmp_path: Path, storage: str, damage: str) -> None:
    bag = write_synth_bag(tmp_path / "bag", frames=FRAMES, size=SIZE, storage=storage)
    data = _data_file(bag)
    content = data.read_bytes()
    if damage == "truncate":
        data.write_bytes(content[: len(content) // 2])
    else:
        data.write_bytes(np.random.default_rng(0).bytes(len(content)))
    with pytest.raises(BagError) as info:
        _read_all(bag)
    assert "\n" not in str(info.value)


def test_large_messages_written_from_their_buffers_read_back(tmp_path: Path) -> None:
    """Messages from DIRECT_BYTES on skip rosbags' copies; every reader still agrees."""
    rng = np.random.default_rng(3)
    sizes = [(8, 8), (5000, 4), (300, 200), (5, 5)]  # 60000 pixel bytes: below DIRECT_BYTES
    written = []
    with BagWriter(tmp_path / "bag", storage="mcap") as bag:
        bag.write_string("/latched", 10, "hello", latched=True)
        for stamp in range(100, 106):  # small and large messages interleaved, two topics each
            for index, (width, height) in enumerate(sizes):
                pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
                topic = f"/img{index % 2}"
                bag.write_image(topic, stamp, "cam", encode_image(pixels, "rgb8"))
                written.append((topic, stamp, pixels))
    assert any(p.nbytes >= DIRECT_BYTES for _, _, p in written)
    assert any(p.nbytes < DIRECT_BYTES for _, _, p in written)
    with open_bag(tmp_path / "bag") as reader:
        read = [(t, s, message_to_cvimage(m)) for t, _, s, m in
                iter_messages(reader, ["/img0", "/img1"])]
    assert [(t, s) for t, s, _ in read] == [(t, s) for t, s, _ in written]
    for (_, _, ours), (_, _, theirs) in zip(read, written):
        np.testing.assert_array_equal(ours, theirs)
    data = _data_file(tmp_path / "bag").read_bytes()
    for kind in (SeekingReader, NonSeekingReader):
        messages = list(kind(io.BytesIO(data), validate_crcs=True).iter_messages())
        assert len(messages) == len(written) + 1
        stamps = sorted(m.log_time for _, _, m in messages if m.log_time >= 100)
        assert stamps == sorted(s for _, s, _ in written)
    summary = SeekingReader(io.BytesIO(data)).get_summary()
    assert summary.statistics.message_count == len(written) + 1
    assert sum(c.message_end_time >= c.message_start_time for c in summary.chunk_indexes) == \
        len(summary.chunk_indexes)
