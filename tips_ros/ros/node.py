# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips_node``: the ROS 2 lifecycle node that runs TIPSv2 on camera frames.

One backbone pass per frame (frames of several cameras are batched into one pass) gives every
output; outputs nobody subscribes to are not computed. See the README for topics, parameters,
QoS and diagnostics.

This module is the lifecycle shell; the work is in its parts:

* :mod:`~tips_ros.ros.cameras`: per-camera state, image/camera_info subscriptions, input QoS;
* :mod:`~tips_ros.ros.scheduling`: keep-latest slots and the worker thread;
* :mod:`~tips_ros.ros.frame_path`: decode -> engine -> publish, on the worker thread;
* :mod:`~tips_ros.ros.publishers`: each camera's output publishers;
* :mod:`~tips_ros.ros.diagnostics` and :mod:`~tips_ros.ros.messages`: ``/diagnostics``.

Threads: the executor thread runs subscription callbacks, which only store the newest raw
(serialized) message of each camera (keep-latest); one worker thread deserializes, validates,
decodes, runs the engine and publishes. Nothing raises out of a callback.

Lifecycle: ``configure`` loads the model (FAILURE with the reason if it cannot), creates the
publishers and the (paused) worker; ``activate`` subscribes and starts processing;
``deactivate`` pauses and unsubscribes; ``cleanup`` stops the worker after the frame in
flight, destroys the publishers and frees the model and its device memory. With
``autostart`` (default) :func:`main` configures and activates the node on start.
``/diagnostics`` reports every state, including why a configure failed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import (
    FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult,
)
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_msgs.msg import String

from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.acceleration import batch_sizes
from tips_ros.engine.engine import load_engine
from tips_ros.engine.parameters import (
    SPEC_BY_NAME, SPECS, NodeParams, Spec, check_request, check_startup, engine_value,
    normalise, read_params,
)
from tips_ros.engine.prediction import ALL_HEADS, HEADS
from tips_ros.engine.queries import QueryError, parse_queries
from tips_ros.errors import UsageError
from tips_ros.io.outputs import FROM_CLASS_NAMES
from tips_ros.ros import messages, vision
from tips_ros.ros.cameras import Camera, CameraInputs
from tips_ros.ros.diagnostics import (
    EngineHealth, LOG_THROTTLE_S, Thresholds, engine_status, input_status,
)
from tips_ros.ros.frame_path import FramePath
from tips_ros.ros.publishers import CameraOutputs
from tips_ros.ros.qos import latched_qos, use_shipped_fastdds_profile
from tips_ros.ros.scheduling import FrameWorker, LatestSlots

if TYPE_CHECKING:
    from rclpy.impl.rcutils_logger import RcutilsLogger

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


def configure_engine(params: NodeParams, logger: RcutilsLogger) -> Engine:
    """Load the model of ``params`` (:func:`tips_ros.engine.engine.load_engine`) and say so.

    The warm-up is the worker thread's (:meth:`TipsNode._warm_up`).

    Raises the loading error (one sentence: ``ModelLoadError``: also a device that does not
    exist, a missing ONNX file), or ``UsageError`` when an ONNX file lacks a head the node
    publishes or ``onnx_model`` is set for backend torch.
    """
    if params.backend == "torch" and params.onnx_model:
        raise UsageError(f"onnx_model '{params.onnx_model}' is set but backend is torch, which "
                         "does not run it: set backend onnxruntime, or clear onnx_model")
    if params.device == "auto" and not torch.cuda.is_available():
        logger.warning("CUDA is not available: running the model on the CPU (slow)")
    engine = load_engine(EngineConfig.from_params(params), HEADS, user="the node",
                         queries=params.text_queries, templates=params.prompt_templates)
    backend = engine.backend
    precision = engine.precision
    logger.info(f"loaded {params.model} on {engine.device} ({precision})")
    lacking = engine.missing_heads(ALL_HEADS)
    if lacking:  # backend onnxruntime: the heads of the file
        logger.info(f"backend {backend.name}: {backend.source} on {', '.join(backend.providers)}"
                    f"; {', '.join(lacking)} need backend torch and are not published")
    return engine


def descriptor(spec: Spec) -> ParameterDescriptor:
    """Return the rclpy descriptor of a parameter: description, choices and range."""
    when = "runtime" if spec.runtime else "read at configure"
    desc = ParameterDescriptor(description=f"{spec.description} ({when})")
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.int_range:
        desc.integer_range = [IntegerRange(
            from_value=spec.int_range[0], to_value=spec.int_range[1], step=spec.int_range[2])]
    if spec.float_range:
        desc.floating_point_range = [FloatingPointRange(
            from_value=spec.float_range[0], to_value=spec.float_range[1], step=0.0)]
    if spec.string_list:  # empty YAML lists arrive untyped, so accept any empty array
        desc.dynamic_typing = True
        desc.additional_constraints = "list of strings"
    return desc


class TipsNode(LifecycleNode):
    """TIPSv2 perception from one backbone pass per frame.

    Publishes depth, normals, segmentation, text heatmaps, dense features, global embeddings
    and zero-shot segmentation for each camera (see the module docstring for its parts).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("tips_node", **kwargs)
        rejected = self._declare_parameters()
        self.params: NodeParams = self._stored_params()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.health = EngineHealth(self.params.max_batch)
        for name, reason in rejected.items():
            self.health.parameter_rejections[name] += 1
            self.get_logger().error(f"parameter {reason}; using the default "
                                    f"{SPEC_BY_NAME[name].default!r}")
        self.configure_error = ""  # why the last configure failed ("" if it did not)
        self.engine: Engine | None = None
        self.cameras: list[Camera] = []
        self.slots: LatestSlots[bytes] = LatestSlots(0)
        self._inputs: CameraInputs | None = None
        self._path: FramePath | None = None
        self._worker: FrameWorker[bytes] | None = None
        self._queries_sub = None
        # /diagnostics reports the unconfigured node too (why configure failed), so its
        # publisher and timer live as long as the node
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(
            self.params.diagnostics_period, self._publish_diagnostics)

    def _declare_parameters(self) -> dict[str, str]:
        """Declare every parameter; return the start-up values rejected (name -> reason).

        A rejected value (wrong type or shape, out of range, inconsistent with the others)
        is replaced by the parameter's default, so what ``get_parameters`` reports is what
        the node uses; the node starts either way.
        """
        rejected: dict[str, str] = {}
        for spec in SPECS:
            try:
                self.declare_parameter(spec.name, spec.default, descriptor(spec))
            except ParameterException as err:  # rclpy's own type or range check
                rejected[spec.name] = f"{spec.name} rejected: {' '.join(str(err).split())}"
                self.declare_parameter(spec.name, spec.default, descriptor(spec),
                                       ignore_override=True)
        values = {spec.name: self.get_parameter(spec.name).value for spec in SPECS}
        for name, reason in check_startup(values).items():
            rejected[name] = reason
            self.undeclare_parameter(name)
            spec = SPEC_BY_NAME[name]
            self.declare_parameter(name, spec.default, descriptor(spec), ignore_override=True)
        return rejected

    def _stored_params(self) -> NodeParams:
        """Return the parameters as stored (what ``get_parameters`` reports)."""
        return read_params(lambda name: self.get_parameter(name).value)

    def start(self) -> bool:
        """Configure (load the model) and activate the node; return whether it is active."""
        if self.trigger_configure() != SUCCESS:
            return False
        return self.trigger_activate() == SUCCESS

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        # configure-time parameters changed since the last configure take effect now
        self.params = self._stored_params()
        if self._diagnostics_timer.timer_period_ns != int(self.params.diagnostics_period * 1e9):
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = self.create_timer(
                self.params.diagnostics_period, self._publish_diagnostics)
        try:
            self.engine = configure_engine(self.params, self.get_logger())
        except Exception as err:  # ModelLoadError, or the device failing during warm-up
            self.configure_error = str(err).splitlines()[0] if str(err) else type(err).__name__
            self.get_logger().error(f"configure failed: {self.configure_error}")
            return FAILURE
        self.configure_error = ""
        params = self.params
        if vision.MISSING:
            self.get_logger().warning(
                f"{vision.MISSING}: segmentation/label_info, detections and detections_3d are "
                "off (build it with scripts/build_vision_msgs.sh, or install "
                "ros-<distro>-vision-msgs); every other output runs")
        self.cameras = [Camera.named(namespace) for namespace in params.cameras or [""]]
        for camera in self.cameras:
            camera.outputs = CameraOutputs(self, camera.prefix, params.output_reliability)
        self.slots = LatestSlots(len(self.cameras))
        self.health.batch_limit = params.max_batch
        self._inputs = CameraInputs(self, self.cameras, self.slots, params)
        self._path = FramePath(self, self.engine, self.cameras, params, self.health,
                               self._on_queries_failed)
        self._worker = FrameWorker(self.slots, self._path.process, self._batch_limits,
                                   self._on_frame_error)
        if params.warmup:
            try:
                self._worker.call(self._warm_up)
            except Exception as err:  # the device failing during warm-up
                self.configure_error = f"warm-up failed: {err}".splitlines()[0]
                self.get_logger().error(f"configure failed: {self.configure_error}")
                self._release()
                return FAILURE
        return SUCCESS

    def _warm_up(self) -> None:
        """Warm the engine up, on the worker thread: the thread that will infer.

        CUDA-graph trees (``compile: reduce-overhead``, torch 2.11) are recorded and replayed
        per thread. A compiled engine runs every batch padded to a power of two, so each size
        up to the camera count is warmed up (:func:`~tips_ros.engine.acceleration.batch_sizes`)
        and nothing compiles mid-stream, whatever ``max_batch`` becomes at run time.
        """
        compiled = self.engine.config.compile != "none"
        for batch in batch_sizes(len(self.cameras)) if compiled else (1,):
            self.engine.warmup(batch=batch)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # activates the lifecycle publishers
        for camera in self.cameras:
            camera.outputs.publish_latched(FROM_CLASS_NAMES, self.engine.class_names)
        self._path.publish_queries()
        self._inputs.subscribe()
        self._queries_sub = self.create_subscription(
            String, "queries", self._on_queries, latched_qos(), raw=True)
        self._worker.resume()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._worker.pause()
        self._unsubscribe()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return SUCCESS

    def on_shutdown(self, state: LifecycleState | None) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._release()
        return SUCCESS

    def _unsubscribe(self) -> None:
        if self._inputs is not None:
            self._inputs.unsubscribe()
        if self._queries_sub is not None:
            self.destroy_subscription(self._queries_sub)
            self._queries_sub = None

    def _release(self) -> None:
        """Stop the worker, destroy the publishers and free the model's device memory.

        The worker is joined without a time limit: a frame in flight (seconds for B/14 on a
        CPU) finishes first, unpublished, so the model is never closed under it and no
        publisher is destroyed under a publish.
        """
        if self._worker is not None:
            self._worker.stop(lambda: self.get_logger().info(
                "waiting for the frame in flight to finish"))
            self._worker = None
        for camera in self.cameras:
            camera.outputs.destroy()
        self.cameras = []
        self._inputs = self._path = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    # ------------------------------------------------------------------ callbacks
    def _on_set_parameters(self, changed: Sequence[Parameter]) -> SetParametersResult:
        """Check a whole request against itself; store it only if every value is accepted.

        Runtime parameters take effect at once (queries before the next batch); the others
        are stored and take effect at the next configure. Never raises: a rejection is one
        log line and the reason in the result.
        """
        changes = {param.name: param.value for param in changed}
        try:
            reason = check_request(self._stored_params(), changes)
        except Exception as err:  # a bug in a check must not take the node down
            reason = f"the request could not be checked ({type(err).__name__}: {err})"
        if reason:
            for name in changes:
                self.health.parameter_rejections[name] += 1
            self.get_logger().warning(f"parameter change rejected: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        for name, value in changes.items():
            spec = SPEC_BY_NAME.get(name)
            if spec is None:
                continue
            if not spec.runtime:
                self.get_logger().info(f"{name} changed: it takes effect at the next configure")
                continue
            value = normalise(name, value)
            setattr(self.params, name, value)
            if name == "max_batch":
                self.health.batch_limit = value
            if name in ("text_queries", "prompt_templates") and self._path is not None:
                self._path.set_queries()
                self._worker.post(self._path.apply_queries)  # also without frames
            if spec.engine and self.engine is not None:
                setattr(self.engine.config, name, engine_value(name, value))
        return SetParametersResult(successful=True)

    def _on_queries(self, raw: bytes) -> None:
        """Take a query list from the ``queries`` topic; a bad one keeps the previous queries."""
        params = self.params
        try:
            queries = parse_queries(messages.string_payload(raw), params.max_queries,
                                    params.max_query_length)
        except QueryError as err:
            self.health.query_rejections[err.reason] += 1
            self.get_logger().warning(
                f"queries rejected: {err}; keeping the previous queries",
                throttle_duration_sec=LOG_THROTTLE_S)
            return
        self.set_parameters([Parameter("text_queries", value=queries)])

    def _batch_limits(self) -> tuple[int, float]:
        """Return the worker's ``(max_batch, max_wait_s)`` for the next batch."""
        return self.health.batch_limit, self.params.max_wait_ms / 1000.0

    def _on_frame_error(self, err: Exception) -> bool:
        """Report an exception out of the frame path; return whether the worker keeps going.

        The engine status turns ERROR with the reason until a batch is processed again.
        """
        if not self.context.ok():
            return False  # SIGINT/SIGTERM shut the context down under a publish: not an error
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        self.health.on_frame_error(reason)
        self.get_logger().error(f"frame processing failed: {reason}",
                                throttle_duration_sec=LOG_THROTTLE_S)
        return True

    def _on_queries_failed(self, err: Exception, queries: list[str],
                           templates: list[str]) -> None:
        """Roll the query parameters back to what the engine still uses (worker thread)."""
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        self.health.on_frame_error(f"the new queries failed ({reason}); previous queries kept")
        self.get_logger().error(f"text_queries/prompt_templates rejected by the engine: {reason}; "
                                "rolled back to the previous queries")
        self.set_parameters([Parameter("text_queries", value=queries),
                             Parameter("prompt_templates", value=templates)])

    def _publish_diagnostics(self) -> None:
        limits = Thresholds(stale_after_s=self.params.stale_after)
        drops = self.slots.drops
        statuses = [input_status(camera.stats, drops[index], limits)
                    for index, camera in enumerate(self.cameras)]
        active = self._worker is not None and self._worker.active
        statuses.append(engine_status(self.engine, self.health, limits, model=self.params.model,
                                      active=active, configure_error=self.configure_error))
        self._diagnostics.publish(messages.diagnostics_msg(
            self.get_clock().now().to_msg(), self.get_fully_qualified_name(), statuses))


def main(args: list[str] | None = None) -> int:
    """Run ``tips_node`` until SIGINT/SIGTERM, then exit 0."""
    use_shipped_fastdds_profile()
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    try:
        node = TipsNode()
        if node.params.autostart:  # loads the model; Ctrl-C during that is a clean exit too
            node.start()
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
