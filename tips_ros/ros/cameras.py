# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The node's camera inputs: per-camera state, subscriptions and input QoS matching.

Each camera is a topic prefix (``""``, or ``"front/"`` with ``cameras: [front, ...]``) with
an image subscription (``image``, or ``image/compressed`` with ``input_compressed``) and a
``camera_info`` subscription. Image callbacks run on the executor thread and only put the
raw (serialized) message into the camera's keep-latest slot; the worker decodes it later.
With ``input_reliability: auto`` the image subscription matches what the publishers offer
and is re-made when that changes (checked every :data:`QOS_CHECK_PERIOD_S` seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from tips_ros.engine.parameters import NodeParams
from tips_ros.io.camera_info import Calibration
from tips_ros.ros.diagnostics import InputStats, LOG_THROTTLE_S
from tips_ros.ros.qos import offered_reliability, stream_qos
from tips_ros.ros.scheduling import LatestSlots

if TYPE_CHECKING:
    from tips_ros.ros.publishers import CameraOutputs

#: seconds between checks of the image publishers' QoS (``input_reliability: auto``)
QOS_CHECK_PERIOD_S = 1.0


@dataclass
class Camera:
    """One camera served by the node: topics, output publishers and input state."""

    prefix: str  # "" or "front/"
    stats: InputStats
    outputs: CameraOutputs | None = None
    subscription: Any = None
    info_subscription: Any = None
    reliability: str = "reliable"
    calibration: Calibration = field(default_factory=Calibration)  # newest camera_info
    info_warned_at: float = float("-inf")  # monotonic s of the last camera_info warning
    last_stamp_ns: int = -1  # header stamp of the last decoded frame, nanoseconds

    @classmethod
    def named(cls, namespace: str) -> Camera:
        """Make the camera of ``namespace`` (``""``: the node's own relative topics)."""
        prefix = f"{namespace.strip('/')}/" if namespace else ""
        return cls(prefix, InputStats(namespace or "input"))

    def topic(self, name: str) -> str:
        """Return the relative topic ``name`` of this camera (``front/depth``)."""
        return self.prefix + name

    def image_topic(self, compressed: bool) -> str:
        """Return the input image topic: ``image``, or ``image/compressed`` if ``compressed``."""
        return self.topic("image/compressed" if compressed else "image")


class CameraInputs:
    """Image and camera_info subscriptions of the node's cameras (made at activate)."""

    def __init__(self, node: LifecycleNode, cameras: Sequence[Camera],
                 slots: LatestSlots[bytes], params: NodeParams) -> None:
        """Serve ``cameras``, putting raw frames into ``slots`` (one slot per camera).

        ``params`` is the node's live :data:`~tips_ros.engine.parameters.NodeParams`.
        """
        self._node = node
        self._cameras = list(cameras)
        self._slots = slots
        self._params = params
        self._qos_timer = None

    def subscribe(self) -> None:
        """Subscribe to every camera's image and camera_info; start QoS matching if ``auto``."""
        for index, camera in enumerate(self._cameras):
            self._subscribe_image(camera, self._image_callback(index, camera))
            camera.info_subscription = self._node.create_subscription(
                CameraInfo, camera.topic("camera_info"), self._info_callback(camera),
                stream_qos("reliable"))
        if self._params.input_reliability == "auto":
            self._qos_timer = self._node.create_timer(QOS_CHECK_PERIOD_S, self.match_publishers)

    def unsubscribe(self) -> None:
        """Destroy every subscription and the QoS timer (inputs stop at once)."""
        if self._qos_timer is not None:
            self._node.destroy_timer(self._qos_timer)
            self._qos_timer = None
        for camera in self._cameras:
            for sub in (camera.subscription, camera.info_subscription):
                if sub is not None:
                    self._node.destroy_subscription(sub)
            camera.subscription = camera.info_subscription = None

    def match_publishers(self) -> None:
        """Re-subscribe a camera whose image publishers now offer another reliability."""
        for index, camera in enumerate(self._cameras):
            topic = camera.image_topic(self._params.input_compressed)
            offered = offered_reliability(self._node, topic)
            if offered is None or offered == camera.reliability or not camera.subscription:
                continue
            self._node.get_logger().info(
                f"{topic}: publishers offer {offered}, re-subscribing to match")
            self._node.destroy_subscription(camera.subscription)
            self._subscribe_image(camera, self._image_callback(index, camera))

    def _subscribe_image(self, camera: Camera, callback: Callable[[bytes], None]) -> None:
        params = self._params
        topic = camera.image_topic(params.input_compressed)
        if params.input_reliability == "auto":
            camera.reliability = offered_reliability(self._node, topic) or "reliable"
        else:
            camera.reliability = params.input_reliability
        msg_type = CompressedImage if params.input_compressed else Image
        events = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible)
        camera.subscription = self._node.create_subscription(
            msg_type, topic, callback, stream_qos(camera.reliability), event_callbacks=events,
            raw=True)

    def _image_callback(self, index: int, camera: Camera) -> Callable[[bytes], None]:
        def callback(raw: bytes) -> None:
            camera.stats.on_received()
            self._slots.put(index, raw)

        return callback

    @staticmethod
    def _info_callback(camera: Camera) -> Callable[[CameraInfo], None]:
        def callback(msg: CameraInfo) -> None:
            camera.calibration.update(msg)  # checked against the next frame, once per change

        return callback

    def _on_incompatible(self, event: Any) -> None:
        self._node.get_logger().warning(
            f"an image publisher's QoS is incompatible with this node's input "
            f"({self._params.input_reliability}, policy {event.last_policy_kind}): set "
            "input_reliability:=auto or best_effort to match it",
            throttle_duration_sec=LOG_THROTTLE_S)
