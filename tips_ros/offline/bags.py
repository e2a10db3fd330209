# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Writing and reading rosbag2 recordings with ``rosbags`` (no ROS install needed).

Bags are written in rosbag2 metadata format version 9 (the format of ROS 2 Jazzy and
later) in ``mcap`` or ``sqlite3`` storage. Each topic records the QoS profile it was
"offered" with, so ``ros2 bag play`` republishes it the same way: reliable, keep last 1,
volatile for streams; reliable, keep last 1, transient local for latched topics (label maps,
query lists), which late subscribers then still receive.

Reading goes through ``rosbags.highlevel.AnyReader`` with a default typestore, so bags with
or without embedded type definitions (Humble, Jazzy, Kilted, sqlite3 or mcap) read alike.
Every failure to read is raised as ``BagError`` with one sentence for the user.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.interfaces import (
    Connection,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, WriterError
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from tips_ros.engine.ade20k import ADE20K_CLASSES, CLASS_ID
from tips_ros.offline.arguments import Size
from tips_ros.io.cdr import image_parts
from tips_ros.errors import (  # errors re-exported: raised here
    BagError, BagExistsError, BagWriteError, UsageError, os_reason,
)
from tips_ros.offline.checkpoint import Checkpoints
from tips_ros.io.imaging import EncodedImage, encode_image
from tips_ros.offline.mcap_storage import buffers, OutputWriter, Payload
from tips_ros.offline.synthetic import render_sequence

#: rosbag2 metadata version written (9: ROS 2 Jazzy and later).
BAG_VERSION = 9

#: Storage names accepted by ``BagWriter``.
STORAGES: dict[str, StoragePlugin] = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}

#: Optical frame id and topics of synthetic bags.
SYNTH_FRAME_ID = "camera_optical_frame"
#: ADE20K ids the synthetic scenes use (``synthetic`` module), listed in the label-name topic.
SYNTH_CLASS_IDS = tuple(
    sorted(CLASS_ID[n] for n in ("wall", "floor", "ceiling", "cabinet", "table", "box", "ball"))
)
SYNTH_TOPICS = {
    "image": "/camera/image_raw",
    "camera_info": "/camera/camera_info",
    "depth": "/camera/depth_gt",
    "normals": "/camera/normals_gt",
    "labels": "/camera/labels_gt",
    "label_names": "/camera/labels_gt/names",
}

#: Message types the writers build.
IMAGE_MSGTYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_MSGTYPE = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD_MSGTYPE = "sensor_msgs/msg/PointCloud2"
STRING_MSGTYPE = "std_msgs/msg/String"

_UNSET = QosTime(sec=0, nsec=0)  # rmw "default" duration: no deadline/lifespan/lease limit


def _qos(durability: QosDurability) -> Qos:
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=1,
        reliability=QosReliability.RELIABLE,
        durability=durability,
        deadline=_UNSET,
        lifespan=_UNSET,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_UNSET,
        avoid_ros_namespace_conventions=False,
    )


#: Offered QoS recorded for streamed topics and for latched topics.
STREAM_QOS = _qos(QosDurability.VOLATILE)
LATCHED_QOS = _qos(QosDurability.TRANSIENT_LOCAL)


class BagWriter:
    """Writes a rosbag2 recording; use as a context manager.

    The bag is always closed (metadata written, mcap footer written) when the ``with`` block
    ends, also on an exception or ``KeyboardInterrupt``, so the messages written so far stay
    readable. Every message's header stamp and its log time in the bag are both ``stamp_ns``.

    Call :meth:`checkpoint` after each frame: when a later write fails (a full disk), the bag
    returns to the last checkpoint and ``BagWriteError`` says how many were kept; closing still
    works (room is reserved: :mod:`tips_ros.offline.checkpoint`).
    """

    def __init__(
        self,
        path: str | Path,
        storage: str = "mcap",
        typestore: Typestore | None = None,
    ) -> None:
        """Prepare a new bag directory at ``path`` (created on enter; must not exist)."""
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise BagExistsError(f"Output bag {self.path} exists already; choose a new path.")
        self.typestore = typestore or get_typestore(Stores.ROS2_JAZZY)
        self.storage = storage
        self._writer = OutputWriter(self.path, version=BAG_VERSION,
                                    storage_plugin=STORAGES[storage])
        self._connections: dict[str, Connection] = {}
        self._checkpoints: Checkpoints | None = None

    def __enter__(self) -> BagWriter:
        try:
            self._writer.open()
        except WriterError as err:
            raise BagExistsError(f"Output bag {self.path} exists already; choose a new path.") \
                from err
        except OSError as err:
            raise BagError(f"Output bag {self.path} cannot be created: {os_reason(err)}.") \
                from err
        try:
            self._checkpoints = Checkpoints(self._writer, self.path)
        except OSError as err:
            self._writer.abort()
            raise BagError(f"Output bag {self.path}: no room ({os_reason(err)}).") from err
        return self

    @property
    def checkpoints(self) -> int:
        """Return the number of frames (checkpoints) safely written."""
        return self._checkpoints.count if self._checkpoints else 0

    def checkpoint(self) -> None:
        """Put everything written so far on disk: a later failed write keeps it."""
        self._guarded(self._checkpoints.take)

    def __exit__(self, *exc: object) -> None:
        if self._checkpoints is not None:
            self._checkpoints.release()
        try:
            self._writer.close()
        except (OSError, sqlite3.Error) as err:
            raise BagWriteError(f"Output bag {self.path} could not be finished: "
                                f"{os_reason(err)}.", self.checkpoints) from err

    def _guarded(self, write: Any, *args: Any) -> None:
        """Run ``write(*args)``; on a failed write roll back to the last checkpoint and raise."""
        try:
            write(*args)
        except (OSError, sqlite3.Error) as err:
            for topic in self._checkpoints.roll_back():
                self._connections.pop(topic, None)
            raise BagWriteError(f"Writing the output bag {self.path} failed: {os_reason(err)}",
                                self.checkpoints) from err

    def write(self, topic: str, msgtype: str, stamp_ns: int, msg: object,
              latched: bool = False) -> None:
        """Serialise ``msg`` (a typestore message of type ``msgtype``) at log time ``stamp_ns``.

        The topic's connection is created on its first message with the offered QoS
        ``LATCHED_QOS`` if ``latched`` else ``STREAM_QOS``.
        """
        self.write_serialized(topic, msgtype, stamp_ns,
                              self.typestore.serialize_cdr(msg, msgtype), latched)

    def write_serialized(self, topic: str, msgtype: str, stamp_ns: int, data: Payload,
                         latched: bool = False) -> None:
        """Write CDR bytes of type ``msgtype`` at log time ``stamp_ns`` (see :meth:`write`).

        ``data`` may also be a sequence of buffers that, joined, are the bytes: MCAP storage
        writes large ones as they are (:mod:`tips_ros.offline.mcap_storage`).
        """
        if self.storage != "mcap" and not isinstance(data, (bytes, memoryview)):
            data = b"".join(buffers(data))
        self._guarded(self._write, topic, msgtype, stamp_ns, data, latched)

    def _write(self, topic: str, msgtype: str, stamp_ns: int, data: Payload,
               latched: bool) -> None:
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(
                topic,
                msgtype,
                typestore=self.typestore,
                offered_qos_profiles=[LATCHED_QOS if latched else STREAM_QOS],
            )
            self._connections[topic] = connection
        elif connection.msgtype != msgtype:
            raise ValueError(f"topic {topic} has type {connection.msgtype}, not {msgtype}")
        self._writer.write(connection, stamp_ns, data)

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        """Return a ``std_msgs/Header`` stamped ``stamp_ns`` (nanoseconds since the epoch)."""
        types = self.typestore.types
        stamp = types["builtin_interfaces/msg/Time"](
            sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000
        )
        return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def write_image(self, topic: str, stamp_ns: int, frame_id: str,
                    encoded: EncodedImage) -> None:
        """Write a ``sensor_msgs/Image`` from ``imaging.encode_image`` output.

        These are the very bytes the node publishes (:func:`tips_ros.io.cdr.serialize_image`).
        """
        sec, nanosec = divmod(stamp_ns, 1_000_000_000)
        self.write_serialized(topic, IMAGE_MSGTYPE, stamp_ns,
                              image_parts(sec, nanosec, frame_id, encoded))

    def write_compressed(self, topic: str, stamp_ns: int, frame_id: str, fmt: str,
                         data: bytes) -> None:
        """Write a ``sensor_msgs/CompressedImage`` (``fmt`` e.g. ``"jpeg"`` or ``"png"``)."""
        msgtype = "sensor_msgs/msg/CompressedImage"
        msg = self.typestore.types[msgtype](
            header=self.header(stamp_ns, frame_id),
            format=fmt,
            data=np.frombuffer(data, dtype=np.uint8),
        )
        self.write(topic, msgtype, stamp_ns, msg)

    def write_camera_info(self, topic: str, stamp_ns: int, frame_id: str, K: np.ndarray,
                          width: int, height: int, distortion_model: str = "plumb_bob",
                          D: Sequence[float] = (), R: np.ndarray | None = None,
                          P: np.ndarray | None = None) -> None:
        """Write a ``sensor_msgs/CameraInfo`` (fields as :meth:`camera_info`)."""
        self.write(topic, CAMERA_INFO_MSGTYPE, stamp_ns, self.camera_info(
            stamp_ns, frame_id, K, width, height, distortion_model, D, R, P))

    def camera_info(self, stamp_ns: int, frame_id: str, K: np.ndarray, width: int,
                    height: int, distortion_model: str = "plumb_bob", D: Sequence[float] = (),
                    R: np.ndarray | None = None, P: np.ndarray | None = None) -> Any:
        """Return a ``sensor_msgs/CameraInfo`` for an undistorted-or-``D`` pinhole camera.

        ``K`` is the 3x3 intrinsic matrix in pixels (ROS convention: integer coordinates are
        pixel centres); ``R`` (3x3) defaults to identity and ``P`` (3x4) to ``[K | 0]``. With
        ``plumb_bob`` and no ``D``, five zero coefficients are written.
        """
        types = self.typestore.types
        K = np.asarray(K, dtype=np.float64).reshape(3, 3)
        coefficients = np.asarray(D, dtype=np.float64)
        if distortion_model == "plumb_bob" and coefficients.size == 0:
            coefficients = np.zeros(5)
        return types[CAMERA_INFO_MSGTYPE](
            header=self.header(stamp_ns, frame_id),
            height=height,
            width=width,
            distortion_model=distortion_model,
            d=coefficients,
            k=K.reshape(9),
            r=np.eye(3).reshape(9) if R is None else np.asarray(R, dtype=np.float64).reshape(9),
            p=(np.hstack([K, np.zeros((3, 1))]) if P is None else
               np.asarray(P, dtype=np.float64)).reshape(12),
            binning_x=0,
            binning_y=0,
            roi=types["sensor_msgs/msg/RegionOfInterest"](
                x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
            ),
        )

    def write_string(self, topic: str, stamp_ns: int, text: str, latched: bool = False) -> None:
        """Write a ``std_msgs/String``; ``latched`` records transient-local QoS."""
        self.write(topic, STRING_MSGTYPE, stamp_ns, self.string(text), latched=latched)

    def string(self, text: str) -> Any:
        """Return a ``std_msgs/String`` holding ``text``."""
        return self.typestore.types[STRING_MSGTYPE](data=text)


#: Smallest side of a synthetic frame, pixels.
SYNTH_MIN_SIDE = 16


@dataclass(frozen=True)
class SynthBagOptions:
    """A synthetic bag (``tips-ros synth-bag``): ``frames`` frames of ``size`` into ``out``.

    ``size`` is (width, height) in pixels, each at least :data:`SYNTH_MIN_SIDE`; ``out`` must
    not exist; ``storage`` is ``mcap`` or ``sqlite3``; the same ``seed`` renders the same
    scenes. Checked when built (``UsageError``, one sentence).
    """

    out: Path
    frames: int = 20
    size: Size = Size(640, 480)
    storage: str = "mcap"
    seed: int = 0

    def __post_init__(self) -> None:
        """Normalise the types and check every value (``UsageError``)."""
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "size", Size(*self.size))
        if not isinstance(self.frames, int) or self.frames < 1:
            raise UsageError(f"frames must be a positive integer, not {self.frames!r}.")
        if min(self.size) < SYNTH_MIN_SIDE:
            raise UsageError(f"size '{self.size.width}x{self.size.height}' is too small (at "
                             f"least {SYNTH_MIN_SIDE}x{SYNTH_MIN_SIDE})")
        if self.storage not in STORAGES:
            raise UsageError(f"storage must be one of {', '.join(sorted(STORAGES))}, "
                             f"not {self.storage!r}.")


def write_synth_bag(
    path: str | Path,
    frames: int = SynthBagOptions.frames,
    size: tuple[int, int] = SynthBagOptions.size,
    storage: str = SynthBagOptions.storage,
    seed: int = SynthBagOptions.seed,
) -> Path:
    """Render ``frames`` synthetic frames of ``size`` = (width, height) into a new bag.

    The values are checked as :class:`SynthBagOptions` (``UsageError``).

    Topics (``SYNTH_TOPICS``), all stamped alike per frame with frame id
    ``camera_optical_frame``: ``/camera/image_raw`` (rgb8), ``/camera/camera_info``,
    ``/camera/depth_gt`` (32FC1, z-depth in metres), ``/camera/normals_gt`` (32FC3, optical
    frame), ``/camera/labels_gt`` (mono8 ADE20K ids) and, once at the first stamp, the latched
    ``/camera/labels_gt/names`` (JSON ``{"id": "name"}`` of the classes the scenes use).
    """
    options = SynthBagOptions(Path(path), frames, Size(*size), storage, seed)
    width, height = options.size
    topics = SYNTH_TOPICS
    with BagWriter(options.out, storage=storage) as bag:
        for index, frame in enumerate(render_sequence(frames, width, height, seed=seed)):
            stamp, fid = frame.stamp_ns, SYNTH_FRAME_ID
            if index == 0:
                names = {str(i): ADE20K_CLASSES[i] for i in SYNTH_CLASS_IDS}
                bag.write_string(topics["label_names"], stamp, json.dumps(names), latched=True)
            bag.write_image(topics["image"], stamp, fid, encode_image(frame.rgb, "rgb8"))
            bag.write_camera_info(topics["camera_info"], stamp, fid, frame.K, width, height)
            bag.write_image(topics["depth"], stamp, fid, encode_image(frame.depth, "32FC1"))
            bag.write_image(topics["normals"], stamp, fid, encode_image(frame.normals, "32FC3"))
            bag.write_image(topics["labels"], stamp, fid, encode_image(frame.labels, "mono8"))
            bag.checkpoint()
    return Path(path)


@contextmanager
def open_bag(path: str | Path, typestore: Typestore | None = None) -> Iterator[AnyReader]:
    """Open a rosbag2 directory (sqlite3 or mcap) for reading as an ``AnyReader``.

    ``typestore`` (default ROS 2 Jazzy) decodes bags without embedded type definitions.
    Raises ``BagError`` when the path is missing, is not a bag, or the bag is corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"Bag {path} does not exist.")
    if path.is_file() and (path.parent / "metadata.yaml").exists():
        path = path.parent
    if not (path / "metadata.yaml").exists():
        raise BagError(f"{path} is not a rosbag2 directory (no metadata.yaml).")
    reader = AnyReader([path], default_typestore=typestore or get_typestore(Stores.ROS2_JAZZY))
    try:
        reader.open()
    except Exception as err:  # rosbags raises various errors for damaged files
        raise BagError(f"Bag {path} cannot be opened, it may be corrupt: {_reason(err)}.") \
            from err
    try:
        yield reader
    finally:
        reader.close()


def _reason(err: BaseException) -> str:
    """Return the reason of a ``rosbags`` or parser error in one line (no final period)."""
    return " ".join((str(err) or type(err).__name__).split()).rstrip(".")


def require_topics(reader: AnyReader, topics: Sequence[str]) -> None:
    """Raise ``BagError`` listing the bag's topics if any of ``topics`` is not in the bag."""
    missing = [t for t in topics if t not in reader.topics]
    if missing:
        raise BagError(f"Topic(s) {', '.join(missing)} not in the bag; it has: "
                       f"{', '.join(sorted(reader.topics))}.")


def iter_messages(reader: AnyReader,
                  topics: Sequence[str]) -> Iterator[tuple[str, str, int, Any]]:
    """Yield ``(topic, msgtype, stamp_ns, msg)`` in log-time order for ``topics``.

    ``stamp_ns`` is the message's header stamp, or its log time when it has no header.
    Raises ``BagError`` if a topic is not in the bag (the message lists the bag's topics)
    or a message cannot be read or decoded.
    """
    require_topics(reader, topics)
    connections = [c for c in reader.connections if c.topic in topics]
    messages = reader.messages(connections=connections)
    while True:
        try:
            item = next(messages, None)
            if item is None:
                return
            connection, log_time, raw = item
            msg = reader.deserialize(raw, connection.msgtype)
        except Exception as err:  # truncated chunks, bad CRCs, undecodable data
            raise BagError(f"Bag cannot be read to the end, it may be corrupt: "
                           f"{_reason(err)}.") from err
        header = getattr(msg, "header", None)
        stamp = (header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
                 if header is not None else log_time)
        yield connection.topic, connection.msgtype, stamp, msg
