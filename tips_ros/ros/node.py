# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips_node``: the ROS 2 lifecycle node that runs TIPSv2 on camera frames.

One backbone pass per frame (frames of several cameras are batched into one pass) gives every
output; outputs nobody subscribes to are not computed. See the README for topics, parameters,
QoS and diagnostics.

Threads: the executor thread runs subscription callbacks, which only store the newest raw
(serialized) message of each camera (keep-latest); one worker thread deserializes, validates,
decodes, runs the engine and publishes. Nothing raises out of a callback.

Lifecycle: ``configure`` loads the model (FAILURE with the reason if it cannot) and creates the
publishers; ``activate`` subscribes and starts processing; ``deactivate`` unsubscribes;
``cleanup`` frees the model and its device memory. With ``autostart`` (default) the node
configures and activates itself on start.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import String

from tips_ros.ros import messages
from tips_ros.io import outputs
from tips_ros.io.camera_info import depth_camera_info
from tips_ros.ros.diagnostics import ERROR, OK, WARN, InputStats, Status, Thresholds, input_status
from tips_ros.engine.engine import HEADS, VIEWS, Engine, Prediction
from tips_ros.io.imaging import ImageDecodeError, decode_compressed, decode_image
from tips_ros.ros.parameters import (
    SPEC_BY_NAME, SPECS, NodeParams, engine_config, engine_value, normalise, read_params, validate,
)
from tips_ros.engine.queries import QueryError, parse_queries
from tips_ros.ros.qos import latched_qos, offered_reliability, stream_qos, use_shipped_fastdds_profile
from tips_ros.ros.scheduling import LatestSlots, Pending

LOG_THROTTLE_S = 5.0
#: seconds of waiting for the worker at cleanup/shutdown before saying so in the log
RELEASE_NOTICE_S = 2.0


@dataclass
class Camera:
    """Topics, publishers and statistics of one camera served by the node."""

    prefix: str  # "" or "front/"
    stats: InputStats
    publishers: dict[str, Any] = field(default_factory=dict)
    subscription: Any = None
    info_subscription: Any = None
    reliability: str = "reliable"
    info: CameraInfo | None = None
    last_stamp_ns: int = -1

    def topic(self, name: str) -> str:
        return self.prefix + name


@dataclass
class Decoded:
    """A frame ready for the engine."""

    camera: Camera
    msg: Image | CompressedImage
    rgb: np.ndarray
    received: float
    decode_ms: float  # deserialize + validate + decode


def string_payload(raw: bytes) -> bytes:
    """The UTF-8 bytes of a serialized ``std_msgs/String`` (CDR), without decoding them.

    Read by hand so that a non-UTF-8 payload becomes a counted rejection instead of an
    exception inside rclpy's deserializer. Layout: 4-byte encapsulation header, uint32 length
    (including the terminating NUL), bytes.
    """
    if len(raw) < 8:
        raise QueryError("malformed_message", "the queries message is too short to be a String")
    order = "little" if raw[1] == 1 else "big"
    length = int.from_bytes(raw[4:8], order)
    if length < 1 or 8 + length > len(raw):
        raise QueryError("malformed_message", "the queries message has an invalid string length")
    return raw[8 : 8 + length - 1]


class TipsNode(LifecycleNode):
    """TIPSv2 perception: depth, normals, segmentation, text heatmaps, dense features,
    global embeddings and zero-shot segmentation, all from one backbone pass."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("tips_node", **kwargs)
        for spec in SPECS:
            self.declare_parameter(spec.name, spec.default, spec.descriptor())
        self.params: NodeParams = read_params(lambda n: self.get_parameter(n).value)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.engine: Engine | None = None
        self.cameras: list[Camera] = []
        self.slots: LatestSlots[bytes] = LatestSlots(0)
        self.limits = Thresholds()
        self.query_rejections: Counter = Counter()
        self.oom_events = 0
        self.last_fault: float | None = None
        self.batch_limit = self.params.max_batch
        self.configure_error = ""
        self._pending_queries: list[str] | None = None
        self._queries_sub = None
        self._active = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._qos_timer = None
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(self.params.diagnostics_period, self._publish_diagnostics)
        if self.params.autostart:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, changed: Sequence[Parameter]) -> SetParametersResult:
        for param in changed:
            reason = validate(param.name, param.value, self.params)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for param in changed:
            value = normalise(param.name, param.value)
            setattr(self.params, param.name, value)
            if param.name == "max_batch":
                self.batch_limit = value
            if param.name in ("text_queries", "prompt_templates"):
                self._pending_queries = list(self.params.text_queries)
            spec = SPEC_BY_NAME.get(param.name)
            if spec is not None and spec.engine and spec.runtime and self.engine is not None:
                setattr(self.engine.config, param.name, engine_value(param.name, value))
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self.params
        if p.device == "auto" and not torch.cuda.is_available():
            self.get_logger().warn("CUDA is not available: running the model on the CPU (slow)")
        try:
            self.engine = Engine(engine_config(p))
            missing = [head for head in HEADS if head not in self.engine.heads]
            if missing:  # backend onnxruntime: the file must hold every head the node publishes
                raise ValueError(f"ONNX file '{p.onnx_model}' lacks the heads "
                                 f"{', '.join(missing)} that the node publishes; export with "
                                 f"--heads {','.join(HEADS)}")
            self.engine.set_queries(p.text_queries, p.prompt_templates)
            if p.warmup:
                self.engine.warmup()
        except Exception as err:  # ModelLoadError, or the device failing during warm-up
            self.configure_error = str(err).splitlines()[0] if str(err) else type(err).__name__
            self.get_logger().error(f"configure failed: {self.configure_error}")
            if self.engine is not None:
                self.engine.close()
            self.engine = None
            return TransitionCallbackReturn.FAILURE
        self.configure_error = ""
        self.get_logger().info(
            f"loaded {p.model} on {self.engine.device} ({str(self.engine.dtype).replace('torch.', '')})"
        )
        if self.engine.onnx is not None:
            self.get_logger().info(
                f"backend onnxruntime: {p.onnx_model} on {', '.join(self.engine.onnx.providers)}; "
                "features, embedding and zeroshot need backend torch and are not published")
        names = p.cameras or [""]
        self.cameras = [Camera(f"{ns.strip('/')}/" if ns else "", InputStats(ns or "input")) for ns in names]
        self.slots = LatestSlots(len(self.cameras))
        self.batch_limit = p.max_batch
        output_qos = stream_qos(p.output_reliability)
        events = PublisherEventCallbacks(incompatible_qos=self._on_publisher_incompatible)
        for camera in self.cameras:
            for topic in outputs.STREAM_TOPICS:
                camera.publishers[topic] = self.create_lifecycle_publisher(
                    Image, camera.topic(topic), output_qos, event_callbacks=events)
            camera.publishers[outputs.CAMERA_INFO_TOPIC] = self.create_lifecycle_publisher(
                CameraInfo, camera.topic(outputs.CAMERA_INFO_TOPIC), output_qos)
            camera.publishers[outputs.POINTS_TOPIC] = self.create_lifecycle_publisher(
                PointCloud2, camera.topic(outputs.POINTS_TOPIC), output_qos, event_callbacks=events)
            for topic in (outputs.LABELS_TOPIC, outputs.QUERIES_TOPIC, outputs.ZEROSHOT_LABELS_TOPIC):
                camera.publishers[topic] = self.create_lifecycle_publisher(
                    String, camera.topic(topic), latched_qos())
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="tips_worker", daemon=True)
        self._worker.start()
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)
        for camera in self.cameras:
            self._subscribe(camera)
            camera.info_subscription = self.create_subscription(
                CameraInfo, camera.topic("camera_info"), self._info_callback(camera), stream_qos("reliable"))
            camera.publishers[outputs.LABELS_TOPIC].publish(
                messages.string_msg(outputs.labels_json(self.engine.labels)))
        self._publish_queries()
        self._queries_sub = self.create_subscription(
            String, "queries", self._on_queries, latched_qos(), raw=True)
        if self.params.input_reliability == "auto":
            self._qos_timer = self.create_timer(1.0, self._match_publisher_qos)
        self.slots.reopen()
        self._active.set()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.clear()
        self.slots.close()
        self._unsubscribe_all()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.clear()
        self._unsubscribe_all()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        """Stop the worker, destroy publishers and free the model's device memory.

        The worker is joined without a time limit: a frame in flight (seconds for B/14 on a
        CPU) finishes first, unpublished, so the model is never closed under it and no
        publisher is destroyed under a publish.
        """
        self._stop.set()
        self.slots.close()
        if self._worker is not None:
            self._worker.join(timeout=RELEASE_NOTICE_S)
            if self._worker.is_alive():
                self.get_logger().info("waiting for the frame in flight to finish")
                self._worker.join()
            self._worker = None
        for camera in self.cameras:
            for publisher in camera.publishers.values():
                self.destroy_lifecycle_publisher(publisher)
        self.cameras = []
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    # ------------------------------------------------------------------ subscriptions
    def _subscribe(self, camera: Camera) -> None:
        p = self.params
        if p.input_reliability == "auto":
            camera.reliability = offered_reliability(self, self._image_topic(camera)) or "reliable"
        else:
            camera.reliability = p.input_reliability
        msg_type = CompressedImage if p.input_compressed else Image
        events = SubscriptionEventCallbacks(incompatible_qos=self._on_subscription_incompatible)
        camera.subscription = self.create_subscription(
            msg_type, self._image_topic(camera), self._image_callback(camera),
            stream_qos(camera.reliability), event_callbacks=events, raw=True)

    def _image_topic(self, camera: Camera) -> str:
        return camera.topic("image/compressed" if self.params.input_compressed else "image")

    def _unsubscribe_all(self) -> None:
        if self._qos_timer is not None:
            self.destroy_timer(self._qos_timer)
            self._qos_timer = None
        if self._queries_sub is not None:
            self.destroy_subscription(self._queries_sub)
            self._queries_sub = None
        for camera in self.cameras:
            for sub in (camera.subscription, camera.info_subscription):
                if sub is not None:
                    self.destroy_subscription(sub)
            camera.subscription = camera.info_subscription = None

    def _match_publisher_qos(self) -> None:
        """input_reliability auto: re-subscribe when the image publishers' offer changes."""
        for camera in self.cameras:
            offered = offered_reliability(self, self._image_topic(camera))
            if offered is not None and offered != camera.reliability and camera.subscription:
                self.get_logger().info(
                    f"{self._image_topic(camera)}: publishers offer {offered}, re-subscribing to match")
                self.destroy_subscription(camera.subscription)
                self._subscribe(camera)

    def _image_callback(self, camera: Camera):
        index = self.cameras.index(camera)

        def callback(raw: bytes) -> None:
            camera.stats.on_received()
            self.slots.put(index, raw)

        return callback

    def _info_callback(self, camera: Camera):
        def callback(msg: CameraInfo) -> None:
            camera.info = msg

        return callback

    def _on_queries(self, raw: bytes) -> None:
        """New queries from the ``queries`` topic; a bad message keeps the previous queries."""
        try:
            queries = parse_queries(string_payload(raw), self.params.max_queries, self.params.max_query_length)
        except QueryError as err:
            self.query_rejections[err.reason] += 1
            self.get_logger().warn(f"queries rejected: {err}; keeping the previous queries",
                                   throttle_duration_sec=LOG_THROTTLE_S)
            return
        self.set_parameters([Parameter("text_queries", value=queries)])

    def _on_subscription_incompatible(self, event: Any) -> None:
        self.get_logger().warn(
            f"an image publisher's QoS is incompatible with this node's input "
            f"({self.params.input_reliability}, policy {event.last_policy_kind}): set "
            "input_reliability:=auto or best_effort to match it", throttle_duration_sec=LOG_THROTTLE_S)

    def _on_publisher_incompatible(self, event: Any) -> None:
        self.get_logger().warn(
            f"a subscriber requests QoS this node's outputs do not offer (policy "
            f"{event.last_policy_kind}): make the subscriber best effort, or set "
            "output_reliability to match it", throttle_duration_sec=LOG_THROTTLE_S)

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while not self._stop.is_set():
            if not self._active.wait(timeout=0.2):
                continue
            batch = self.slots.take(self.batch_limit, self.params.max_wait_ms / 1000.0)
            if not batch:
                continue
            try:
                self._process(batch)
            except Exception as err:  # keep the worker alive whatever a frame does
                if not self.context.ok():
                    return  # SIGINT/SIGTERM shut the context down under a publish: not an error
                self.get_logger().error(f"frame processing failed: {err!r}",
                                        throttle_duration_sec=LOG_THROTTLE_S)

    def _process(self, batch: list[Pending[bytes]]) -> None:
        engine = self.engine
        if engine is None:
            return
        if self._pending_queries is not None:
            self._pending_queries = None
            engine.set_queries(self.params.text_queries, self.params.prompt_templates)
            self._publish_queries()
        topics = {id(camera): self._wanted_topics(camera) for camera in (self.cameras[p.camera] for p in batch)}
        wanted = []
        for pending in batch:
            camera = self.cameras[pending.camera]
            if topics[id(camera)]:
                wanted.append(pending)
            else:  # nobody listens to this camera's outputs: nothing to decode or compute
                camera.stats.unsubscribed += 1
        frames = [f for f in (self._decode(p) for p in wanted) if f is not None]
        if not frames:
            return
        wanted_heads = set().union(*(outputs.heads_for(topics[id(f.camera)]) for f in frames))
        # backend onnxruntime computes only the file's heads (and their views)
        heads = {head for head in wanted_heads if VIEWS.get(head, head) in engine.heads}
        start = time.monotonic()
        now_ns = self.get_clock().now().nanoseconds
        try:
            predictions = engine.infer([f.rgb for f in frames], heads) if heads else [Prediction()] * len(frames)
        except torch.OutOfMemoryError:
            self._on_oom(len(frames))
            return
        if self._stop.is_set():  # cleanup or shutdown waits for this frame: do not publish
            return
        engine_ms = (time.monotonic() - start) * 1000.0 / len(frames)
        for frame, pred in zip(frames, predictions):
            publish_start = time.monotonic()
            self._publish(frame, pred, topics[id(frame.camera)])
            publish_ms = (time.monotonic() - publish_start) * 1000.0
            stamp = frame.msg.header.stamp
            age_ms = (now_ns - (stamp.sec * 1_000_000_000 + stamp.nanosec)) / 1e6
            frame.camera.stats.on_processed(age_ms, (time.monotonic() - start) * 1000.0,
                                            frame.decode_ms + publish_ms, engine_ms)

    def _on_oom(self, frames: int) -> None:
        """Device out of memory: drop these frames, halve the batch, keep going."""
        self.oom_events += 1
        self.last_fault = time.monotonic()
        self.batch_limit = max(1, frames // 2)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.get_logger().error(
            f"device out of memory: dropped {frames} frame(s); batch limit now {self.batch_limit}",
            throttle_duration_sec=LOG_THROTTLE_S)

    def _decode(self, pending: Pending[bytes]) -> Decoded | None:
        """Deserialize, validate and decode one raw frame; None (counted, logged) if rejected."""
        camera = self.cameras[pending.camera]
        compressed = self.params.input_compressed
        start = time.monotonic()
        try:
            try:
                msg = deserialize_message(pending.item, CompressedImage if compressed else Image)
            except Exception as err:  # malformed CDR
                raise ImageDecodeError("malformed_message", f"cannot deserialize the message ({err})") from err
            if compressed:
                rgb = decode_compressed(msg, self.params.max_image_pixels)
            else:
                rgb = decode_image(msg, self.params.max_image_pixels)
        except ImageDecodeError as err:
            camera.stats.on_rejected(err.reason)
            self.get_logger().warn(f"{self._image_topic(camera)}: frame rejected: {err}",
                                   throttle_duration_sec=LOG_THROTTLE_S)
            return None
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if stamp_ns < camera.last_stamp_ns:  # processed anyway (bag loops, clock resets)
            camera.stats.noted["stamp_backwards"] += 1
            self.get_logger().warn(f"{self._image_topic(camera)}: stamp went backwards",
                                   throttle_duration_sec=LOG_THROTTLE_S)
        if not msg.header.frame_id:
            camera.stats.noted["empty_frame_id"] += 1
        camera.last_stamp_ns = stamp_ns
        return Decoded(camera, msg, rgb, pending.received, (time.monotonic() - start) * 1000.0)

    def _wanted_topics(self, camera: Camera) -> set[str]:
        """Output topics with subscribers (all of them with compute_all)."""
        wanted = {
            topic for topic, pub in camera.publishers.items()
            if topic in outputs.STREAM_TOPICS or topic in (outputs.CAMERA_INFO_TOPIC, outputs.POINTS_TOPIC)
            if self.params.compute_all or pub.get_subscription_count() > 0
        }
        if not (self.params.publish_points and camera.info is not None):
            wanted.discard(outputs.POINTS_TOPIC)
        if camera.info is None:
            wanted.discard(outputs.CAMERA_INFO_TOPIC)
        return wanted

    def _publish(self, frame: Decoded, pred: Prediction, topics: set[str]) -> None:
        """Publish every wanted output of one frame with the input header."""
        camera, header = frame.camera, frame.msg.header
        for topic, encoded in outputs.encode_prediction(pred, topics).items():
            camera.publishers[topic].publish(messages.image_bytes(header, encoded))
        if camera.info is None or not topics & {outputs.CAMERA_INFO_TOPIC, outputs.POINTS_TOPIC}:
            return
        height, width = frame.rgb.shape[:2]
        model = depth_camera_info(camera.info, width, height)
        if model is None:
            self.get_logger().warn(f"{camera.topic('camera_info')}: the camera is uncalibrated "
                                   "(zero focal length): no depth/camera_info, no points",
                                   throttle_duration_sec=LOG_THROTTLE_S)
            return
        if outputs.CAMERA_INFO_TOPIC in topics:
            camera.publishers[outputs.CAMERA_INFO_TOPIC].publish(
                messages.camera_info_msg(header, model))
        if outputs.POINTS_TOPIC in topics and pred.depth is not None:
            cloud = outputs.point_cloud(pred.depth, model.k, frame.rgb, pred.labels)
            camera.publishers[outputs.POINTS_TOPIC].publish(
                messages.point_cloud_bytes(header, cloud))

    def _publish_queries(self) -> None:
        if self.engine is None:
            return
        text = outputs.queries_json(self.engine.queries)
        labels = outputs.zeroshot_labels_json(self.engine.queries)
        for camera in self.cameras:
            camera.publishers[outputs.QUERIES_TOPIC].publish(messages.string_msg(text))
            camera.publishers[outputs.ZEROSHOT_LABELS_TOPIC].publish(messages.string_msg(labels))

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        self.limits = Thresholds(stale_after_s=self.params.stale_after)
        statuses = [
            input_status(camera.stats, self.slots.drops[i], self.limits)
            for i, camera in enumerate(self.cameras)
        ]
        statuses.append(self._engine_status())
        self._diagnostics.publish(
            messages.diagnostics_msg(self.get_clock().now().to_msg(), self.get_fully_qualified_name(), statuses))

    def _engine_status(self) -> Status:
        engine = self.engine
        if engine is None:
            reason = self.configure_error or "not configured"
            return Status("engine", ERROR, f"no model loaded: {reason}", {})
        recent_fault = self.last_fault is not None and time.monotonic() - self.last_fault < self.limits.fault_hold_s
        level, message = (WARN, "recovered from device out-of-memory") if recent_fault else (OK, "running")
        if not self._active.is_set():
            message = "inactive"
        memory = engine.device_memory()
        values = {
            "model": self.params.model,
            "device": str(engine.device),
            "precision": str(engine.dtype).replace("torch.", ""),
            "backbone_calls": str(engine.stats.backbone_calls),
            "frames": str(engine.stats.frames),
            "oom_events": str(self.oom_events),
            "batch_limit": str(self.batch_limit),
            "device_memory_allocated_mb": f"{memory['allocated'] / 2**20:.1f}",
            "device_memory_peak_mb": f"{memory['peak'] / 2**20:.1f}",
            "queries": outputs.queries_json(engine.queries),
        }
        values.update({f"head_calls.{h}": str(n) for h, n in engine.stats.head_calls.items()})
        values.update({f"queries_rejected.{r}": str(n) for r, n in sorted(self.query_rejections.items())})
        return Status("engine", level, message, values)


def main(args: list[str] | None = None) -> int:
    """Entry point of ``tips_node``: spin until SIGINT/SIGTERM, then exit 0."""
    use_shipped_fastdds_profile()
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    try:
        node = TipsNode()  # autostart loads the model here; Ctrl-C during that is a clean exit too
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # else a timer or subscription callback raced the signal handler's shutdown: clean exit
    finally:
        if node is not None:
            node.on_shutdown(None)
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
