"""The node's parameters: declarations with descriptors and ranges, and validation.

Every parameter is declared from :data:`SPECS`; the node's on-set callback runs
:func:`validate` and rejects a bad value with a one-line reason. Parameters marked
``runtime`` take effect on the next frame; the others are read at ``configure`` (change them,
then ``cleanup`` + ``configure``). ``config/tips.yaml`` lists every parameter with its default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from tips_ros.engine import HEATMAP_MODES, PRECISIONS
from tips_ros.features import ZEROSHOT_TEMPLATES
from tips_ros.qos import RELIABILITIES
from tips_ros.queries import QueryError, check_queries


@dataclass(frozen=True)
class Spec:
    """One parameter: name, default, description and constraints."""

    name: str
    default: Any
    description: str
    runtime: bool = False
    choices: tuple[str, ...] = ()
    int_range: tuple[int, int, int] | None = None  # from, to, step
    float_range: tuple[float, float] | None = None
    string_list: bool = False

    def descriptor(self) -> ParameterDescriptor:
        when = "runtime" if self.runtime else "read at configure"
        desc = ParameterDescriptor(description=f"{self.description} ({when})")
        if self.choices:
            desc.additional_constraints = "one of: " + ", ".join(self.choices)
        if self.int_range:
            desc.integer_range = [IntegerRange(
                from_value=self.int_range[0], to_value=self.int_range[1], step=self.int_range[2])]
        if self.float_range:
            desc.floating_point_range = [FloatingPointRange(
                from_value=self.float_range[0], to_value=self.float_range[1], step=0.0)]
        if self.string_list:  # empty YAML lists arrive untyped, so accept any empty array
            desc.dynamic_typing = True
            desc.additional_constraints = "list of strings"
        return desc


SPECS: tuple[Spec, ...] = (
    Spec("model", "google/tipsv2-b14-dpt", "DPT model: hub id or local directory"),
    Spec("text_model", "google/tipsv2-b14", "image-text model (text tower + tokenizer): hub id or directory"),
    Spec("device", "auto", "auto, cpu, cuda or cuda:N (auto: CUDA if available, else CPU with a warning)"),
    Spec("precision", "auto", "model precision (auto: bf16 on CUDA, fp32 on CPU)",
         choices=("auto", *PRECISIONS)),
    Spec("input_size", 448, "model input side in pixels, a multiple of 14", int_range=(14, 1792, 14)),
    Spec("keep_aspect", False, "keep the image aspect ratio (short side = input_size)"),
    Spec("compile", "none", "torch.compile mode of the backbone and heads (reduce-overhead also "
         "captures CUDA graphs)", choices=("none", "default", "reduce-overhead", "max-autotune")),
    Spec("channels_last", False, "channels-last memory format for the DPT convolutions"),
    Spec("warmup", True, "run two 640x480 frames at configure so the first camera frame is not slow"),
    Spec("allow_pickle", False, "allow non-safetensors (pickle) weights; unsafe with untrusted files"),
    Spec("cameras", [], "camera namespaces served by this node, e.g. [front, left]; empty: one camera "
         "on the relative topics image, camera_info", string_list=True),
    Spec("input_compressed", False, "subscribe to image/compressed (sensor_msgs/CompressedImage)"),
    Spec("input_reliability", "auto", "input QoS reliability; auto matches the image publishers",
         choices=RELIABILITIES),
    Spec("output_reliability", "reliable", "output QoS reliability", choices=RELIABILITIES[1:]),
    Spec("text_queries", ["person", "chair", "table", "door"], "heatmap text queries, channel order",
         runtime=True, string_list=True),
    Spec("prompt_templates", [], "templates with one {} averaged per query, e.g. 'a photo of a {}.'",
         runtime=True, string_list=True),
    Spec("heatmap_mode", "cosine", "cosine similarity, or softmax across queries", runtime=True,
         choices=HEATMAP_MODES),
    Spec("heatmap_temperature", 0.1, "softmax temperature in cosine units", runtime=True,
         float_range=(0.001, 10.0)),
    Spec("zeroshot_threshold", 0.0, "zeroshot: pixels whose best query cosine is below this get id 255 "
         "(none); uncalibrated default, tune per model", runtime=True, float_range=(-1.0, 1.0)),
    Spec("zeroshot_templates", list(ZEROSHOT_TEMPLATES), "zeroshot prompt ensemble: templates with one "
         "{} averaged per query (empty: the query text as is)", runtime=True, string_list=True),
    Spec("pca_momentum", 0.05, "features/pca: weight of each new frame in the running mean and "
         "covariance (0 freezes the first frame's projection)", runtime=True, float_range=(0.0, 1.0)),
    Spec("publish_points", False, "publish points (PointCloud2) once camera_info has arrived",
         runtime=True),
    Spec("compute_all", False, "compute every output even without subscribers", runtime=True),
    Spec("max_batch", 8, "most frames (cameras) in one forward pass", runtime=True, int_range=(1, 64, 1)),
    Spec("max_wait_ms", 5.0, "how long to wait for other cameras' frames to fill a batch", runtime=True,
         float_range=(0.0, 1000.0)),
    Spec("max_image_pixels", 50_000_000, "largest accepted image (width x height)", runtime=True,
         int_range=(1, 1_000_000_000, 1)),
    Spec("max_queries", 32, "most text queries accepted", runtime=True, int_range=(1, 255, 1)),
    Spec("max_query_length", 200, "longest accepted query, in characters", runtime=True,
         int_range=(1, 10_000, 1)),
    Spec("stale_after", 2.0, "seconds without frames before an input is reported stale (WARN)",
         runtime=True, float_range=(0.1, 3600.0)),
    Spec("diagnostics_period", 1.0, "seconds between /diagnostics messages", float_range=(0.1, 60.0)),
    Spec("autostart", True, "configure and activate on start"),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


@dataclass
class NodeParams:
    """Typed snapshot of the parameters (field names = parameter names)."""

    model: str
    text_model: str
    device: str
    precision: str
    input_size: int
    keep_aspect: bool
    compile: str
    channels_last: bool
    warmup: bool
    allow_pickle: bool
    cameras: list[str]
    input_compressed: bool
    input_reliability: str
    output_reliability: str
    text_queries: list[str]
    prompt_templates: list[str]
    heatmap_mode: str
    heatmap_temperature: float
    zeroshot_threshold: float
    zeroshot_templates: list[str]
    pca_momentum: float
    publish_points: bool
    compute_all: bool
    max_batch: int
    max_wait_ms: float
    max_image_pixels: int
    max_queries: int
    max_query_length: int
    stale_after: float
    diagnostics_period: float
    autostart: bool


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_NAMESPACE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


def normalise(name: str, value: Any) -> Any:
    """Parameter value as the node uses it (untyped empty lists -> [])."""
    if SPEC_BY_NAME[name].string_list:
        return [] if value is None or len(value) == 0 else list(value)
    return value


def validate(name: str, value: Any, current: NodeParams) -> str | None:
    """The reason ``value`` is rejected for parameter ``name``, or None if it is accepted."""
    spec = SPEC_BY_NAME.get(name)
    if spec is None:
        return None
    value = normalise(name, value)
    if spec.string_list and not all(isinstance(v, str) for v in value):
        return f"{name} must be a list of strings"
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
    if name in ("prompt_templates", "zeroshot_templates") and any(t.count("{}") != 1 for t in value):
        return "each prompt template needs exactly one '{}'"
    return None


def read_params(get: Any) -> NodeParams:
    """A NodeParams from ``get(name) -> value`` (e.g. a node's ``get_parameter(n).value``)."""
    return NodeParams(**{spec.name: normalise(spec.name, get(spec.name)) for spec in SPECS})
