# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Every setting of tips_ros with its default: one list (:data:`SPECS`) of the node's parameters.

This is the one home of each default. From :data:`SPECS` come the node's declarations
(:mod:`tips_ros.ros.node` adds the rclpy descriptors), the typed snapshot :class:`NodeParams`,
:meth:`~tips_ros.engine.config.EngineConfig.from_params` and the defaults of
:class:`~tips_ros.engine.config.EngineConfig` (specs marked ``engine``: same field name), the
defaults of ``tips-ros replay``, ``evaluate``, ``bench`` and ``export`` (:data:`DEFAULTS`),
and ``config/tips.yaml`` and the README parameter table (both written by ``python -m
tips_ros.tools.parameter_files --write``; a test checks they are up to date). Adding a
parameter is one ``Spec`` here (plus the EngineConfig field it feeds).

It lives in the engine package, the lowest layer that knows the names it checks (heads,
precisions, backends, query limits), so that every layer, the engine's own configuration
included, reads its defaults from here; it imports neither ROS nor torch.

The node checks every value, at start-up (:func:`check_startup`) and in its on-set callback
(:func:`check_request`: a whole request against itself), and rejects a bad one with a
one-line reason: wrong types and shapes (a string where a list is meant), ranges, choices,
limits, prompt templates (test-formatted) and the number of prompts (:data:`MAX_PROMPTS`).
Parameters marked ``runtime`` take effect on the next frame (queries: within about 0.5 s);
the others are stored at once and read at the next ``configure`` (``cleanup`` +
``configure``).
"""

from __future__ import annotations

import re
import string
import types
from collections.abc import Sequence
from dataclasses import dataclass, make_dataclass, replace
from typing import Any

from tips_ros.engine.prediction import (
    BACKENDS, HEATMAP_MODES, OutputSize, PRECISION_NAMES, ZEROSHOT_TEMPLATES,
)
from tips_ros.engine.queries import MAX_QUERIES, MAX_QUERY_LENGTH, QueryError, check_queries

#: ``input_reliability`` choices (``output_reliability``: all but ``auto``); see tips_ros.ros.qos.
RELIABILITIES = ("auto", "reliable", "best_effort")


@dataclass(frozen=True)
class Spec:
    """One parameter: name, default, description and constraints.

    ``engine``: the parameter is the :class:`~tips_ros.engine.EngineConfig` field of the
    same name (string lists become tuples there); runtime ones are copied to the running engine.
    """

    name: str
    default: Any
    description: str
    runtime: bool = False
    choices: tuple[str, ...] = ()
    int_range: tuple[int, int, int] | None = None  # from, to, step
    float_range: tuple[float, float] | None = None
    string_list: bool = False
    engine: bool = False


SPECS: tuple[Spec, ...] = (
    Spec("model", "google/tipsv2-b14-dpt", "DPT model: hub id or local directory", engine=True),
    Spec("text_model", "google/tipsv2-b14",
         "image-text model (text tower + tokenizer): hub id or directory", engine=True),
    Spec("device", "auto",
         "auto, cpu, cuda or cuda:N (auto: CUDA if available, else CPU with a warning)",
         engine=True),
    Spec("precision", "auto", "model precision (auto: bf16 on CUDA, fp32 on CPU)",
         choices=("auto", *PRECISION_NAMES), engine=True),
    Spec("input_size", 448, "model input side in pixels, a multiple of 14",
         int_range=(14, 1792, 14), engine=True),
    Spec("keep_aspect", False, "keep the image aspect ratio (short side = input_size)",
         engine=True),
    Spec("output_size", "input", "resolution of every image output, the points and "
         "depth/camera_info: input (the camera's), WIDTHxHEIGHT (e.g. 480x270) or a scale in "
         "(0, 1] (e.g. 0.5)", engine=True),
    Spec("compile", "none", "torch.compile mode of the backbone and heads (reduce-overhead also "
         "captures CUDA graphs)", choices=("none", "default", "reduce-overhead", "max-autotune"),
         engine=True),
    Spec("channels_last", False, "channels-last memory format for the DPT convolutions",
         engine=True),
    Spec("backend", "torch", "inference backend: torch, or onnxruntime running onnx_model "
         "(TensorRT, CUDA or CPU execution provider, first present)", choices=BACKENDS,
         engine=True),
    Spec("onnx_model", "", "ONNX file written by `tips-ros export` (backend onnxruntime); its "
         "TensorRT engine cache is kept next to it", engine=True),
    Spec("warmup", True,
         "run two 640x480 frames at configure so the first camera frame is not slow"),
    Spec("allow_pickle", False,
         "allow non-safetensors (pickle) weights; unsafe with untrusted files", engine=True),
    Spec("cameras", [], "camera namespaces served by this node, e.g. [front, left]; empty: one "
         "camera on the relative topics image, camera_info", string_list=True),
    Spec("input_compressed", False,
         "subscribe to image/compressed (sensor_msgs/CompressedImage)"),
    Spec("input_reliability", "auto", "input QoS reliability; auto matches the image publishers",
         choices=RELIABILITIES),
    Spec("output_reliability", "reliable", "output QoS reliability", choices=RELIABILITIES[1:]),
    Spec("text_queries", ["person", "chair", "table", "door"],
         "heatmap text queries, channel order", runtime=True, string_list=True),
    Spec("prompt_templates", [],
         "templates with one {} averaged per query, e.g. 'a photo of a {}.'",
         runtime=True, string_list=True),
    Spec("heatmap_mode", "cosine", "cosine similarity, or softmax across queries",
         runtime=True, choices=HEATMAP_MODES, engine=True),
    Spec("heatmap_temperature", 0.1, "softmax temperature in cosine units", runtime=True,
         float_range=(0.001, 10.0), engine=True),
    Spec("zeroshot_threshold", 0.0, "zeroshot: pixels whose best query cosine is below this "
         "get id 255 (none); uncalibrated default, tune per model", runtime=True,
         float_range=(-1.0, 1.0), engine=True),
    Spec("zeroshot_templates", list(ZEROSHOT_TEMPLATES), "zeroshot prompt ensemble: templates "
         "with one {} averaged per query (empty: the query text as is)", runtime=True,
         string_list=True, engine=True),
    Spec("pca_momentum", 0.05, "features/pca: weight of each new frame in the running mean and "
         "covariance (0 freezes the first frame's projection)", runtime=True,
         float_range=(0.0, 1.0), engine=True),
    Spec("publish_points", False, "publish points (PointCloud2) once camera_info has arrived",
         runtime=True),
    Spec("points_organized", True, "points: organised like the depth image (height x width, "
         "NaN where depth is invalid; what Nav2's semantic layer needs), else one point per "
         "valid pixel", runtime=True),
    # cosine (heatmap_mode cosine); not calibrated (no released weights here): tune per model
    Spec("detection_threshold", 0.2, "detections, detections_3d: heatmap regions above this "
         "cosine become detections; uncalibrated default, tune per model", runtime=True,
         float_range=(-1.0, 1.0)),
    Spec("compute_all", False, "compute every output even without subscribers", runtime=True),
    Spec("max_batch", 8, "most frames (cameras) in one forward pass", runtime=True,
         int_range=(1, 64, 1)),
    Spec("max_wait_ms", 5.0, "how long to wait for other cameras' frames to fill a batch",
         runtime=True, float_range=(0.0, 1000.0)),
    Spec("max_image_pixels", 50_000_000, "largest accepted image (width x height)",
         runtime=True, int_range=(1, 1_000_000_000, 1)),
    Spec("max_queries", MAX_QUERIES, "most text queries accepted", runtime=True,
         int_range=(1, 255, 1)),
    Spec("max_query_length", MAX_QUERY_LENGTH, "longest accepted query, in characters",
         runtime=True, int_range=(1, 10_000, 1)),
    Spec("stale_after", 2.0, "seconds without frames before an input is reported stale (WARN)",
         runtime=True, float_range=(0.1, 3600.0)),
    Spec("diagnostics_period", 1.0, "seconds between /diagnostics messages",
         float_range=(0.1, 60.0)),
    Spec("autostart", True, "configure and activate on start"),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


def _field_type(spec: Spec) -> type:
    return list[str] if spec.string_list else type(spec.default)


#: Typed snapshot of the parameters: a dataclass with one field per spec (same name, the
#: type of its default), made from :data:`SPECS` so that a new parameter needs no edit here.
NodeParams = make_dataclass("NodeParams", [(spec.name, _field_type(spec)) for spec in SPECS])
NodeParams.__doc__ = "Typed snapshot of the node's parameters (field names = parameter names)."


def engine_value(name: str, value: Any) -> Any:
    """``value`` of parameter ``name`` as its EngineConfig field holds it (lists -> tuples)."""
    return tuple(value) if SPEC_BY_NAME[name].string_list else value


#: Default of every parameter by name, as EngineConfig and the typed options hold it (string
#: lists as tuples): read-only, the one source of the defaults outside :data:`SPECS`.
DEFAULTS: types.MappingProxyType[str, Any] = types.MappingProxyType(
    {spec.name: engine_value(spec.name, spec.default) for spec in SPECS})


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_NAMESPACE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


#: most prompts (queries x templates) one query set may encode: the largest query list the
#: limits allow (``max_queries`` at most 255) with the default zero-shot templates
MAX_PROMPTS = 255 * len(ZEROSHOT_TEMPLATES)
#: longest accepted prompt template, in characters
MAX_TEMPLATE_LENGTH = 1000
_KIND = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
_TEMPLATES = ("prompt_templates", "zeroshot_templates")


def normalise(name: str, value: Any) -> Any:
    """Parameter value as the node uses it (untyped empty lists -> [], integers as numbers).

    Any value is safe here; one with a type error (:func:`type_error`) comes back unchanged.
    """
    spec = SPEC_BY_NAME[name]
    if spec.string_list and (value is None or isinstance(value, (list, tuple))):
        return list(value or [])
    if isinstance(spec.default, float) and type(value) is int:
        return float(value)
    return value  # as it is: a wrong type is for type_error to say


def _describe(value: Any) -> str:
    """Return ``value`` as a short phrase for a rejection (``the integer 5``)."""
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a list of {', '.join(kinds) or 'nothing'}"
    text = str(value) if len(str(value)) <= 40 else str(value)[:40] + "..."
    return f"the {type(value).__name__} {text!r}"


def type_error(name: str, value: Any) -> str | None:
    """Return why ``value`` has the wrong type or shape for parameter ``name``, or None.

    Never a silent reinterpretation: a string where a list is meant is refused (not split into
    letters), an integer where a boolean is meant too. An integer is taken where a number is.
    """
    spec = SPEC_BY_NAME[name]
    if spec.string_list:
        if isinstance(value, str):
            return (f"{name} must be a list of strings, not the string {value[:40]!r} "
                    f"(a list of one is written [{value[:40]}])")
        if value is None or (isinstance(value, (list, tuple)) and not value):
            return None  # an empty list (untyped when it comes from YAML)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return f"{name} must be a list of strings, not {_describe(value)}"
        return None
    kind = type(spec.default)
    if kind is float and type(value) is int:
        return None
    if type(value) is not kind:
        return f"{name} must be {_KIND[kind]}, not {_describe(value)}"
    return None


def template_error(name: str, template: str) -> str | None:
    """Return why the prompt ``template`` of parameter ``name`` is refused, or None.

    A template holds exactly one ``{}`` (literal braces doubled: ``{{``) and is test-formatted
    here: a named or numbered field (``{x}``, ``{0}``), a format spec or a lone brace is
    refused now, not at the next frame.
    """
    if len(template) > MAX_TEMPLATE_LENGTH:
        return (f"{name}: a template has {len(template)} characters, at most "
                f"{MAX_TEMPLATE_LENGTH}")
    try:
        fields = [(field, spec, conversion) for _, field, spec, conversion
                  in string.Formatter().parse(template) if field is not None]
    except ValueError as err:  # a lone brace
        return f"{name}: template {template[:60]!r} does not format ({err})"
    if fields != [("", "", None)]:
        return (f"{name}: template {template[:60]!r} must hold exactly one '{{}}' (no named "
                "or numbered field, no format spec)")
    template.format("query")  # cannot fail after the check above: the test format
    return None


def prompt_count_error(queries: Sequence[str], current: Any) -> str | None:
    """Return why ``queries`` x the templates of ``current`` are too many prompts, or None.

    The one check of :data:`MAX_PROMPTS`: ``queries`` (the node's ``text_queries``) times the
    ``prompt_templates``, and times the ``zeroshot_templates``, of ``current`` (the node's
    parameters, or typed options with those fields); the node, the params file reader and the
    offline options call it.
    """
    for name in _TEMPLATES:
        count = len(queries) * max(1, len(getattr(current, name)))
        if count > MAX_PROMPTS:
            return (f"text_queries x {name} would be {count} prompts to encode, at most "
                    f"{MAX_PROMPTS}")
    return None


def validate(name: str, value: Any, current: Any) -> str | None:
    """Return why ``value`` is rejected for parameter ``name``, or None if it is accepted.

    ``current`` holds the other parameters' values (those of the same request included):
    limits and counts are checked against them.
    """
    spec = SPEC_BY_NAME.get(name)
    if spec is None:
        return None
    reason = type_error(name, value)
    if reason:
        return reason
    value = normalise(name, value)
    if spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, not '{value}'"
    if spec.int_range:
        low, high, step = spec.int_range
        if not low <= value <= high or (value - low) % step:
            return f"{name} must be in {low}..{high} in steps of {step}, not {value}"
    if spec.float_range and not spec.float_range[0] <= value <= spec.float_range[1]:
        return f"{name} must be in {spec.float_range[0]}..{spec.float_range[1]}, not {value}"
    if name == "device" and not _DEVICE.match(value):
        return f"device must be auto, cpu, cuda or cuda:N, not '{value}'"
    if name == "output_size":
        try:
            OutputSize.parse(value)
        except ValueError as err:
            return str(err)
    if name in ("model", "text_model") and not value.strip():
        return f"{name} must not be empty"
    if name == "cameras":
        bad = [ns for ns in value if not _NAMESPACE.match(ns.strip("/"))]
        if bad or len(set(value)) != len(value):
            return f"cameras must be distinct namespaces like 'front' or 'robot/left', got {value}"
    if name == "text_queries":
        try:
            check_queries(value, current.max_queries, current.max_query_length)
        except QueryError as err:
            return f"text_queries rejected: {err}"
    if name in _TEMPLATES:
        if len(value) > MAX_PROMPTS:
            return f"{name}: {len(value)} templates, at most {MAX_PROMPTS}"
        reason = next(filter(None, (template_error(name, t) for t in value)), None)
        if reason:
            return reason
    return None


def check_request(current: Any, changes: dict[str, Any]) -> str | None:
    """Return why a set-parameters request is refused, or None: the whole request or nothing.

    ``current`` holds the stored values; every value of ``changes`` is checked for its type,
    then every parameter is checked against the values after the request, so that a limit and
    a value set together are checked against each other, and a limit lowered below the
    current list is refused.
    """
    for name, value in changes.items():
        reason = type_error(name, value) if name in SPEC_BY_NAME else None
        if reason:
            return reason
    after = replace(current, **{name: normalise(name, value) for name, value in changes.items()
                                if name in SPEC_BY_NAME})
    order = [*changes, *(spec.name for spec in SPECS if spec.name not in changes)]
    for name in order:
        reason = validate(name, getattr(after, name), after) if name in SPEC_BY_NAME else None
        if reason:
            return reason
    return prompt_count_error(after.text_queries, after)


def check_startup(values: dict[str, Any]) -> dict[str, str]:
    """Return the rejected start-up ``values`` by name, with their reasons.

    Each rejected value is replaced by its default in ``values`` (in place), and the rest is
    checked again against it, until what is left is consistent.
    """
    rejected: dict[str, str] = {}
    for name, value in values.items():
        reason = type_error(name, value)
        if reason:
            rejected[name] = reason
            values[name] = SPEC_BY_NAME[name].default
    while True:
        current = NodeParams(**{n: normalise(n, v) for n, v in values.items()})
        new = {name: reason for name, value in values.items() if name not in rejected
               for reason in [validate(name, value, current)] if reason}
        if not new and "text_queries" not in rejected:
            reason = prompt_count_error(current.text_queries, current)
            if reason:
                new["text_queries"] = reason
        if not new:
            return rejected
        for name, reason in new.items():
            rejected[name] = reason
            values[name] = SPEC_BY_NAME[name].default


def read_params(get: Any) -> Any:
    """Read a :data:`NodeParams` from ``get(name) -> value`` (``get_parameter(n).value``)."""
    return NodeParams(**{spec.name: normalise(spec.name, get(spec.name)) for spec in SPECS})
