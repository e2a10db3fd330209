# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The frame path: raw frames -> decoded images -> one engine call -> published outputs.

Runs on the worker thread (:class:`tips_ros.ros.scheduling.FrameWorker`), one batch of raw
(serialized) frames at a time, at most one per camera:

1. cameras whose outputs nobody subscribes to are skipped undecoded (counted);
2. each frame is deserialized, validated and decoded to RGB (bad ones counted by reason,
   logged, skipped: nothing raises);
3. one engine call computes the heads the wanted topics need (only those the backend has);
   a device out-of-memory drops the batch and halves the batch limit;
4. each frame's outputs are published with its input header, unless the node is tearing
   down (then the results are dropped).

Timing per frame goes to the camera's :class:`~tips_ros.ros.diagnostics.InputStats` in
milliseconds: age (header stamp to processing start, by the node's clock), latency
(processing start to published), engine time and ROS-side cost (decode + publish).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rclpy.lifecycle import LifecycleNode
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image

from tips_ros.engine import Engine
from tips_ros.engine.parameters import NodeParams
from tips_ros.engine.prediction import Prediction
from tips_ros.io import outputs
from tips_ros.io.camera_info import CameraModel
from tips_ros.io.imaging import ImageDecodeError, decode_compressed, decode_image
from tips_ros.ros.cameras import Camera
from tips_ros.ros.diagnostics import EngineHealth, LOG_THROTTLE_S
from tips_ros.ros.scheduling import Pending


@dataclass
class Decoded:
    """A frame ready for the engine: its camera, message, RGB image and decode cost."""

    camera: Camera
    msg: Image | CompressedImage
    rgb: np.ndarray  # HxWx3 uint8
    decode_ms: float  # deserialize + validate + decode
    model: CameraModel | None = None  # the camera's checked calibration for this image


def stamp_ns(msg: Image | CompressedImage) -> int:
    """Return the header stamp of ``msg`` in nanoseconds."""
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class FramePath:
    """Decode, infer and publish batches of raw frames of the node's ``cameras``.

    ``params`` is the node's live parameter snapshot (runtime changes apply from the next
    batch); ``health`` receives out-of-memory events. Call :meth:`set_queries` from any
    thread: the engine takes new queries on the worker thread, before the next batch.
    """

    def __init__(self, node: LifecycleNode, engine: Engine, cameras: Sequence[Camera],
                 params: NodeParams, health: EngineHealth,
                 on_queries_failed: Callable[[Exception, list[str], list[str]], None]) -> None:
        self._logger = node.get_logger()
        self._clock = node.get_clock()
        self.engine = engine
        self.cameras = list(cameras)
        self._params = params
        self._health = health
        self._queries_changed = threading.Event()
        self._on_queries_failed = on_queries_failed
        # the queries and templates the engine uses (set at configure)
        self._applied = (list(params.text_queries), list(params.prompt_templates))

    def set_queries(self) -> None:
        """Take the ``text_queries``/``prompt_templates`` parameters before the next batch."""
        self._queries_changed.set()

    def publish_queries(self) -> None:
        """Publish the engine's current queries on every camera's latched query topics."""
        for camera in self.cameras:
            camera.outputs.publish_latched(outputs.FROM_QUERIES, self.engine.queries)

    def process(self, batch: list[Pending[bytes]], stopping: threading.Event) -> None:
        """Run one batch (at most one frame per camera) through decode, engine and publish.

        ``stopping`` set once the engine returns: the node is tearing down and waits for
        this batch, whose results are then dropped unpublished.
        """
        self.apply_queries()
        frames, topics = [], []
        for pending in batch:
            camera = self.cameras[pending.camera]
            wanted = camera.outputs.wanted(self._params.compute_all, self._params.publish_points,
                                           camera.calibration.known)
            if not wanted:  # nobody listens to this camera's outputs: nothing to decode
                camera.stats.unsubscribed += 1
                continue
            frame = self.decode(pending)
            if frame is not None:
                frame.model = self.calibrate(frame)
                frames.append(frame)
                topics.append(wanted if frame.model else wanted - outputs.GEOMETRY_TOPICS)
        if frames:
            self._infer_and_publish(frames, topics, stopping)

    def apply_queries(self) -> None:
        """Take changed query parameters now (on the worker thread: between batches)."""
        if self._queries_changed.is_set():
            self._queries_changed.clear()
            self._take_queries()

    def _take_queries(self) -> None:
        """Encode the query parameters; if the engine fails, keep the previous queries.

        The failure goes to ``on_queries_failed`` with the queries and templates in use, so
        that the parameters are rolled back to them.
        """
        wanted = (list(self._params.text_queries), list(self._params.prompt_templates))
        if wanted == self._applied:
            return
        try:
            self.engine.set_queries(*wanted)
        except Exception as err:  # the engine keeps its previous queries
            self._on_queries_failed(err, *self._applied)
            return
        self._applied = wanted
        self.publish_queries()

    def decode(self, pending: Pending[bytes]) -> Decoded | None:
        """Deserialize, validate and decode one raw frame; None (counted, logged) if rejected."""
        camera = self.cameras[pending.camera]
        compressed = self._params.input_compressed
        start = time.monotonic()
        try:
            try:
                msg = deserialize_message(pending.item, CompressedImage if compressed else Image)
            except Exception as err:  # malformed CDR
                raise ImageDecodeError(
                    "malformed_message", f"cannot deserialize the message ({err})") from err
            decode = decode_compressed if compressed else decode_image
            rgb = decode(msg, self._params.max_image_pixels)
        except ImageDecodeError as err:
            camera.stats.on_rejected(err.reason)
            self._logger.warning(f"{camera.image_topic(compressed)}: frame rejected: {err}",
                                 throttle_duration_sec=LOG_THROTTLE_S)
            return None
        if stamp_ns(msg) < camera.last_stamp_ns:  # processed anyway (bag loops, clock resets)
            camera.stats.noted["stamp_backwards"] += 1
            self._logger.warning(f"{camera.image_topic(compressed)}: stamp went backwards",
                                 throttle_duration_sec=LOG_THROTTLE_S)
        if not msg.header.frame_id:
            camera.stats.noted["empty_frame_id"] += 1
        camera.last_stamp_ns = stamp_ns(msg)
        return Decoded(camera, msg, rgb, (time.monotonic() - start) * 1000.0)

    def calibrate(self, frame: Decoded) -> CameraModel | None:
        """Return the camera's calibration for ``frame`` at its output size; None if rejected.

        K and P are scaled to the outputs' size (``output_size``), the size of the depth
        image, the cloud and ``depth/camera_info``.

        The check runs once per change of the camera_info or of the image size and frame id;
        a rejection is counted and logged then (a new reason at once, the same one at most
        every :data:`LOG_THROTTLE_S` seconds).
        """
        camera = frame.camera
        rows, columns = frame.rgb.shape[:2]
        height, width = self.engine.output_shape(rows, columns)
        model, error, changed = camera.calibration.model(width, height,
                                                         frame.msg.header.frame_id,
                                                         (columns, rows))
        if not changed:
            return model
        was_rejected = camera.stats.camera_info_reason is not None
        news = camera.stats.on_camera_info(error and error.reason, str(error or ""))
        now = time.monotonic()
        topic = camera.topic("camera_info")
        if error is not None and (news or now - camera.info_warned_at > LOG_THROTTLE_S):
            camera.info_warned_at = now
            self._logger.warning(f"{topic} rejected: {error}; no depth/camera_info and no "
                                 "points for this camera until a valid one arrives")
        elif error is None and was_rejected:
            self._logger.info(f"{topic}: valid again, depth/camera_info and points resume")
        return model

    def _infer_and_publish(self, frames: list[Decoded], topics: list[set[str]],
                           stopping: threading.Event) -> None:
        """Run the engine once on ``frames``; publish frame i's ``topics[i]``."""
        engine = self.engine
        wanted_heads = set().union(*(outputs.heads_for(t) for t in topics))
        # backend onnxruntime computes only the file's heads (and their views)
        heads = {head for head in wanted_heads if engine.has_head(head)}
        start = time.monotonic()
        now_ns = self._clock.now().nanoseconds
        predictions = (engine.infer_within(self._health, [f.rgb for f in frames], heads)
                       if heads else [Prediction()] * len(frames))
        if predictions is None:  # device out of memory: frames dropped, batch limit halved
            self._logger.error(
                f"device out of memory: dropped {len(frames)} frame(s); batch limit now "
                f"{self._health.batch_limit}", throttle_duration_sec=LOG_THROTTLE_S)
            return
        if stopping.is_set():  # cleanup or shutdown waits for this batch: do not publish
            return
        engine_ms = (time.monotonic() - start) * 1000.0 / len(frames)
        for frame, pred, wanted in zip(frames, predictions, topics):
            camera = frame.camera
            publish_start = time.monotonic()
            sizes = camera.outputs.publish_frame(frame.msg.header, frame.rgb, pred, wanted,
                                                 frame.model, self._params)
            publish_ms = (time.monotonic() - publish_start) * 1000.0
            age_ms = (now_ns - stamp_ns(frame.msg)) / 1e6
            camera.stats.on_processed(age_ms, (time.monotonic() - start) * 1000.0,
                                      frame.decode_ms + publish_ms, engine_ms, sizes)
        self._health.on_frame_ok()
