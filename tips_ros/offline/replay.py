# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros replay``: run the node's pipeline over a recorded bag, offline and without ROS.

Reads a rosbag2 (sqlite3 or mcap, any distro's type definitions) with ``rosbags``, decodes
the camera topic (``sensor_msgs/Image`` or ``CompressedImage``), runs the engine in batches
and writes an output bag holding exactly what the node would publish for each frame: the
topics of ``tips_ros.io.outputs`` under a prefix (default ``/tips``), with the input's header
stamp and frame id, and the node's offered QoS recorded. Ground-truth topics, when given,
are matched to predictions by header stamp and scored with ``tips_ros.offline.metrics``; the JSON
report (see ``docs/replay.md``) holds counts, speed, metrics and provenance.

Failure policy: an undecodable frame is counted in ``frames_failed`` (by reason) and skipped;
a bag that cannot be read to the end raises ``BagError`` and Ctrl-C raises
``KeyboardInterrupt``, in both cases after the output bag is closed (it stays readable with
the frames done) and the report is written with what was done.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from tips_ros import __version__
from tips_ros.offline.arguments import query_list
from tips_ros.offline.bags import STORAGES, BagError, BagWriter, iter_messages, open_bag, require_topics
from tips_ros.io.camera_info import depth_camera_info
from tips_ros.errors import UsageError
from tips_ros.io.imaging import ImageDecodeError, decode_compressed, decode_image
from tips_ros.offline.metrics import MetricsAccumulator
from tips_ros.io.outputs import (
    CAMERA_INFO_TOPIC,
    LABELS_TOPIC,
    POINTS_TOPIC,
    QUERIES_TOPIC,
    STREAM_TOPICS,
    ZEROSHOT_LABELS_TOPIC,
    encode_prediction,
    labels_json,
    point_cloud,
    queries_json,
    zeroshot_labels_json,
)
from tips_ros.engine.prediction import ALL_HEADS, HEADS, VIEWS, Prediction

if TYPE_CHECKING:
    from tips_ros.engine.engine import Engine

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
#: Ground-truth task -> the Prediction attribute it is scored against.
GT_TASKS: dict[str, str] = {"depth": "depth", "normals": "normals", "segmentation": "labels"}
#: Ground-truth task -> the engine head it needs.
GT_HEADS: dict[str, str] = {"depth": "depth", "normals": "normals", "segmentation": "segmentation"}
#: Frames shown in ``--preview``.
PREVIEW_ROWS = 3

# numpy dtype and channels of the raw (ground-truth) image encodings read here
_RAW_ENCODINGS: dict[str, tuple[str, int]] = {
    "32FC1": ("f4", 1), "32FC3": ("f4", 3), "16UC1": ("u2", 1), "mono16": ("u2", 1),
    "mono8": ("u1", 1), "8UC1": ("u1", 1),
}


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Topics:
    """Input topics of one replay (absolute names in the bag)."""

    image: str
    compressed: bool
    camera_info: str | None = None
    gt: dict[str, str] = field(default_factory=dict)  # task -> topic

    def all(self) -> list[str]:
        """Every topic read from the bag."""
        return [self.image, *([self.camera_info] if self.camera_info else []), *self.gt.values()]


def resolve_topics(reader: Any, args: argparse.Namespace) -> Topics:
    """Check the requested topics against the bag and fill in the defaults.

    The image topic defaults to the bag's only ``Image``/``CompressedImage`` topic that is not
    a ground-truth topic. The camera info topic defaults to the image_transport sibling
    ``<namespace>/camera_info`` (``/camera/image_raw[/compressed]`` -> ``/camera/camera_info``)
    when the bag has it. Raises ``BagError`` for a missing topic (listing the bag's topics) and
    ``UsageError`` for an ambiguous or wrongly typed one.
    """
    types = {name: info.msgtype for name, info in reader.topics.items()}
    gt = {task: topic for task, topic in (
        ("depth", args.gt_depth_topic), ("normals", args.gt_normals_topic),
        ("segmentation", args.gt_labels_topic)) if topic}
    image = args.image_topic or _only_image_topic(types, set(gt.values()))
    camera_info = args.camera_info_topic or _sibling_camera_info(image, types)
    topics = Topics(image, types.get(image) == COMPRESSED_TYPE, camera_info, gt)
    require_topics(reader, topics.all())
    _require_type(types, image, (IMAGE_TYPE, COMPRESSED_TYPE))
    if camera_info:
        _require_type(types, camera_info, (CAMERA_INFO_TYPE,))
    for topic in gt.values():
        _require_type(types, topic, (IMAGE_TYPE,))
    return topics


def _only_image_topic(types: dict[str, str], exclude: set[str]) -> str:
    candidates = sorted(t for t, m in types.items()
                        if m in (IMAGE_TYPE, COMPRESSED_TYPE) and t not in exclude)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UsageError(f"The bag has no Image or CompressedImage topic; it has: "
                         f"{', '.join(sorted(types))}.")
    raise UsageError(f"The bag has several image topics ({', '.join(candidates)}); "
                     "choose one with --image-topic.")


def _sibling_camera_info(image: str, types: dict[str, str]) -> str | None:
    base = image.removesuffix("/compressed")
    sibling = base.rsplit("/", 1)[0] + "/camera_info"
    return sibling if types.get(sibling) == CAMERA_INFO_TYPE else None


def _require_type(types: dict[str, str], topic: str, allowed: tuple[str, ...]) -> None:
    if types[topic] not in allowed:
        raise UsageError(f"Topic {topic} has type {types[topic]}, expected "
                         f"{' or '.join(allowed)}.")


def raw_image(msg: Any) -> np.ndarray:
    """An ``Image`` message's pixels in their own dtype (``HxW`` or ``HxWxC``), no conversion.

    For ground truth: ``32FC1``/``32FC3`` (float32), ``16UC1``/``mono16`` (uint16),
    ``mono8``/``8UC1`` (uint8). Raises ``ImageDecodeError`` for other encodings or short data.
    """
    if msg.encoding not in _RAW_ENCODINGS:
        raise ImageDecodeError("unknown_encoding",
                               f"ground-truth encoding {msg.encoding!r} is not supported")
    kind, channels = _RAW_ENCODINGS[msg.encoding]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    data = np.asarray(msg.data, dtype=np.uint8)
    if msg.step < msg.width * channels * dtype.itemsize or data.size < msg.step * msg.height:
        raise ImageDecodeError("data_too_short", "ground-truth image data is too short")
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)
    pixels = rows[:, : msg.width * channels * dtype.itemsize].copy().view(dtype)
    pixels = pixels.reshape(msg.height, msg.width, channels).astype(dtype.newbyteorder("="))
    return pixels[:, :, 0] if channels == 1 else pixels


def ground_truth(task: str, msg: Any) -> np.ndarray:
    """Ground truth of ``task`` from an Image message.

    Depth comes out in metres with NaN for invalid pixels: ``32FC1`` as is, ``16UC1``/``mono16``
    as millimetres with 0 = invalid (REP 118). Normals are ``HxWx3`` float, labels integer ids.
    """
    array = raw_image(msg)
    if task == "depth" and array.dtype == np.uint16:
        depth = array.astype(np.float32) / 1000.0
        depth[array == 0] = np.nan
        return depth
    return array


# ----------------------------------------------------------------------------- scoring
class Scorer:
    """Matches predictions to ground truth by header stamp and feeds ``MetricsAccumulator``.

    Ground truth and predictions may arrive in either order; whichever comes second triggers
    scoring. A prediction whose size differs from its ground truth is resized to it
    (nearest for labels, bilinear otherwise).
    """

    def __init__(self, tasks: Sequence[str], metrics: MetricsAccumulator) -> None:
        self.metrics = metrics
        self._gt: dict[str, dict[int, np.ndarray]] = {t: {} for t in tasks}
        self._pred: dict[str, dict[int, np.ndarray]] = {t: {} for t in tasks}
        self.scored: Counter[str] = Counter()

    def add_gt(self, task: str, stamp_ns: int, array: np.ndarray) -> None:
        """Ground truth of ``task`` for the frame stamped ``stamp_ns``."""
        self._gt[task][stamp_ns] = array
        self._match(task, stamp_ns)

    def add_prediction(self, stamp_ns: int, pred: Prediction) -> None:
        """The prediction of the frame stamped ``stamp_ns`` (only the scored arrays are kept)."""
        for task in self._pred:
            self._pred[task][stamp_ns] = getattr(pred, GT_TASKS[task])
            self._match(task, stamp_ns)

    def drop_gt_before(self, stamp_ns: int) -> None:
        """Forget unmatched ground truth older than ``stamp_ns`` (frames skipped or failed)."""
        for table in self._gt.values():
            for stamp in [s for s in table if s < stamp_ns]:
                del table[stamp]

    @property
    def pending(self) -> int:
        """Predictions still waiting for their ground truth."""
        return sum(len(table) for table in self._pred.values())

    def _match(self, task: str, stamp_ns: int) -> None:
        if stamp_ns not in self._gt[task] or stamp_ns not in self._pred[task]:
            return
        gt = self._gt[task].pop(stamp_ns)
        pred = _resize(self._pred[task].pop(stamp_ns), gt.shape[:2], nearest=task == "segmentation")
        if task == "depth":
            self.metrics.add_depth(pred, gt)
        elif task == "normals":
            self.metrics.add_normals(pred, gt)
        else:
            self.metrics.add_segmentation(pred, gt)
        self.scored[task] += 1


def _resize(array: np.ndarray, shape: tuple[int, ...], nearest: bool) -> np.ndarray:
    if array.shape[:2] == tuple(shape):
        return array
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(array, (shape[1], shape[0]), interpolation=interpolation)


# ----------------------------------------------------------------------------- outputs
@dataclass
class Frame:
    """One decoded input frame: RGB ``HxWx3`` uint8, header stamp (ns) and optical frame id."""

    stamp_ns: int
    frame_id: str
    rgb: np.ndarray


def output_topics(heads: set[str], with_camera_info: bool) -> list[str]:
    """Relative output topics written for the engine ``heads`` (views included)."""
    topics = [t for t, (_, head) in STREAM_TOPICS.items() if head in heads]
    if "depth" in heads and with_camera_info:
        topics += [CAMERA_INFO_TOPIC, POINTS_TOPIC]
    if "segmentation" in heads:
        topics.append(LABELS_TOPIC)
    if "heatmaps" in heads:
        topics.append(QUERIES_TOPIC)
    if "zeroshot" in heads:
        topics.append(ZEROSHOT_LABELS_TOPIC)
    return topics


class OutputBag:
    """Writes the node's output topics for each frame under ``prefix`` into a ``BagWriter``.

    Latched topics (label map, query list) are written once, at the first frame's stamp,
    with transient-local QoS. ``depth/camera_info`` and ``points`` need a camera info:
    the latest one read before the frame's batch is written.
    """

    def __init__(self, bag: BagWriter, prefix: str, topics: Sequence[str],
                 labels: Sequence[str], queries: Sequence[str]) -> None:
        self.bag, self.topics = bag, list(topics)
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self._latched = {LABELS_TOPIC: labels_json(labels), QUERIES_TOPIC: queries_json(queries),
                         ZEROSHOT_LABELS_TOPIC: zeroshot_labels_json(queries)}
        self.camera_info: Any = None
        self.frames = 0

    def name(self, topic: str) -> str:
        """Absolute output topic name."""
        return f"{self.prefix}/{topic}"

    def write(self, frame: Frame, pred: Prediction) -> None:
        """Write every output topic of one frame."""
        stamp, fid = frame.stamp_ns, frame.frame_id
        if self.frames == 0:
            for topic, text in self._latched.items():
                if topic in self.topics:
                    self.bag.write_string(self.name(topic), stamp, text, latched=True)
        for topic, encoded in encode_prediction(pred, self.topics).items():
            self.bag.write_image(self.name(topic), stamp, fid, encoded)
        if CAMERA_INFO_TOPIC in self.topics and self.camera_info is not None:
            self._write_geometry(frame, pred)
        self.frames += 1

    def _write_geometry(self, frame: Frame, pred: Prediction) -> None:
        """``depth/camera_info`` and ``points`` as the node builds them (nothing written for
        an uncalibrated camera, as the node publishes nothing)."""
        height, width = pred.depth.shape
        model = depth_camera_info(self.camera_info, width, height)
        if model is None:
            return
        self.bag.write_camera_info(self.name(CAMERA_INFO_TOPIC), frame.stamp_ns, frame.frame_id,
                                   model.k, width, height, model.distortion_model, model.d,
                                   R=model.r, P=model.p)
        cloud = point_cloud(pred.depth, model.k,
                            _resize(frame.rgb, (height, width), nearest=False), pred.labels)
        self.bag.write_point_cloud(self.name(POINTS_TOPIC), frame.stamp_ns, frame.frame_id, cloud)


# ----------------------------------------------------------------------------- progress
class FrameProgress(Protocol):
    """Where a replay reports its frames (``Progress``, or ``tips-ros evaluate``'s own bar)."""

    def update(self, frames: int, failed: int) -> None:
        """Count ``frames`` more frames done; ``failed`` frames of this bag so far."""

    def close(self) -> None:
        """The bag is done."""


class Progress:
    """Frame counter on stderr with fps and ETA (tqdm; silent when stderr is not a terminal)."""

    def __init__(self, total: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="frame", file=sys.stderr, disable=None,
                         dynamic_ncols=True, desc="replay")

    def update(self, frames: int, failed: int) -> None:
        """Count ``frames`` more frames done; show the failures so far."""
        self._bar.set_postfix(failed=failed, refresh=False)
        self._bar.update(frames)

    def close(self) -> None:
        """Finish the bar line."""
        self._bar.close()


# ----------------------------------------------------------------------------- the run
@dataclass
class ReplayState:
    """What a replay has done so far (what the report is made of)."""

    frames_in: int = 0
    frames_out: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    gt_failures: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    processing_s: float = 0.0
    preview: list[tuple[np.ndarray, Prediction]] = field(default_factory=list)
    interrupted: bool = False
    error: str | None = None


class Replayer:
    """Runs one replay: read -> decode -> batch -> engine -> output bag + scorer."""

    def __init__(self, args: argparse.Namespace, engine: Engine, topics: Topics,
                 heads: set[str], out: OutputBag, scorer: Scorer, total: int,
                 progress: FrameProgress | None = None) -> None:
        self.args, self.engine, self.topics, self.heads = args, engine, topics, heads
        self.out, self.scorer, self.total = out, scorer, total
        self.state = ReplayState()
        self._batch: list[Frame] = []
        self._progress = progress or Progress(total)
        self._preview_every = max(1, math.ceil(total / PREVIEW_ROWS)) if total else 1

    def run(self, reader: Any) -> None:
        """Process the bag; the last batch is flushed also when the bag is damaged."""
        limit_stamp: int | None = None  # stamp of the last selected frame once the limit is hit
        seen = 0
        pace = _Pacer() if self.args.pace else None
        try:
            for topic, msgtype, stamp, msg in iter_messages(reader, self.topics.all()):
                if limit_stamp is not None and (stamp > limit_stamp or not self._waiting()):
                    break
                if topic == self.topics.image:
                    if limit_stamp is not None:
                        continue
                    seen += 1
                    if (seen - 1) % self.args.every:
                        continue
                    if pace:
                        pace.wait(stamp)
                    self._add_frame(msgtype, stamp, msg)
                    if self.args.max_frames and self.state.frames_in >= self.args.max_frames:
                        limit_stamp = stamp
                        self._flush()
                elif topic == self.topics.camera_info:
                    self.out.camera_info = msg
                else:
                    self._add_gt(topic, stamp, msg)
        except BagError:
            self._flush()  # the frames read before the damage are still good
            raise
        else:
            self._flush()
        finally:
            self._progress.close()

    def _waiting(self) -> bool:
        return self.scorer.pending > 0

    def _add_frame(self, msgtype: str, stamp: int, msg: Any) -> None:
        self.state.frames_in += 1
        if len(self._batch) >= self.args.batch:
            self._flush()  # flushed one image late, so same-stamp camera info and GT are read
        try:
            rgb = decode_compressed(msg) if msgtype == COMPRESSED_TYPE else decode_image(msg)
        except ImageDecodeError as err:
            self.state.failures[err.reason] += 1
            self._progress.update(1, sum(self.state.failures.values()))
            return
        self._batch.append(Frame(stamp, msg.header.frame_id, rgb))

    def _add_gt(self, topic: str, stamp: int, msg: Any) -> None:
        task = next(t for t, name in self.topics.gt.items() if name == topic)
        try:
            self.scorer.add_gt(task, stamp, ground_truth(task, msg))
        except ImageDecodeError as err:
            self.state.gt_failures[err.reason] += 1

    def _flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        start = time.perf_counter()
        predictions = self.engine.infer([f.rgb for f in batch], heads=self.heads)
        for frame, pred in zip(batch, predictions):
            self.out.write(frame, pred)
            self.scorer.add_prediction(frame.stamp_ns, pred)
            self._keep_for_preview(frame, pred)
        elapsed = time.perf_counter() - start
        self.state.processing_s += elapsed
        self.state.latencies_ms += [elapsed * 1000.0] * len(batch)
        self.state.frames_out += len(batch)
        self.scorer.drop_gt_before(batch[0].stamp_ns)
        self._progress.update(len(batch), sum(self.state.failures.values()))

    def _keep_for_preview(self, frame: Frame, pred: Prediction) -> None:
        if self.state.frames_out % self._preview_every == 0 and \
                len(self.state.preview) < PREVIEW_ROWS:
            self.state.preview.append((frame.rgb, pred))


class _Pacer:
    """Sleeps so frames are released at their recorded rate (header stamps, wall clock)."""

    def __init__(self) -> None:
        self._origin: tuple[int, float] | None = None

    def wait(self, stamp_ns: int) -> None:
        if self._origin is None:
            self._origin = (stamp_ns, time.monotonic())
        due = self._origin[1] + (stamp_ns - self._origin[0]) / 1e9
        time.sleep(max(0.0, due - time.monotonic()))


# ----------------------------------------------------------------------------- report
def build_report(args: argparse.Namespace, engine: Engine, topics: Topics | None,
                 heads: set[str], state: ReplayState, scorer: Scorer | None,
                 load_s: float, wall_s: float) -> dict[str, Any]:
    """The JSON report (fields documented in ``docs/replay.md``); NaN becomes null."""
    latencies = np.asarray(state.latencies_ms, dtype=np.float64)
    report = {
        "frames_in": state.frames_in,
        "frames_out": state.frames_out,
        "frames_failed": sum(state.failures.values()),
        "failures": dict(state.failures),
        "fps": state.frames_out / state.processing_s if state.processing_s else 0.0,
        "latency_ms": {
            "p50": float(np.percentile(latencies, 50)) if latencies.size else None,
            "p99": float(np.percentile(latencies, 99)) if latencies.size else None,
            "mean": float(latencies.mean()) if latencies.size else None,
        },
        "model": args.model,
        "text_model": args.text_model,
        "weights": weights_kind(engine),
        "device": str(engine.device),
        "precision": _precision_name(engine),
        "backend": engine.config.backend,  # onnxruntime: the graph in onnx_model, not model
        "onnx_model": engine.config.onnx_model or None,
        "batch": args.batch,
        "heads": sorted(heads),
        "queries": list(engine.queries),
        "median_scaling": args.median_scaling,
        "metrics": scorer.metrics.report() if scorer else {},
        "frames_scored": dict(scorer.scored) if scorer else {},
        "ground_truth_failures": dict(state.gt_failures),
        "input": {
            "bag": str(args.bag),
            "image_topic": topics.image if topics else args.image_topic,
            "camera_info_topic": topics.camera_info if topics else None,
            "ground_truth_topics": topics.gt if topics else {},
            "every": args.every,
            "max_frames": args.max_frames,
            "paced": args.pace,
        },
        "output": {"bag": str(args.output), "storage": args.storage, "prefix": args.prefix},
        "interrupted": state.interrupted,
        "error": state.error,
        "model_load_s": load_s,
        "wall_s": wall_s,
        "accumulated": {  # raw sums, merged exactly by tips-ros evaluate
            "metrics": scorer.metrics.state() if scorer else None,
            "latencies_ms": list(state.latencies_ms),
            "processing_s": state.processing_s,
        },
        "command": sys.argv,
        "versions": _versions(),
    }
    return json_safe(report)


def weights_kind(engine: Engine) -> str:
    """``"random"`` for models written by ``tips-ros make-test-model`` (the offline demo's
    too), else ``"released"``; read from the loaded models' configs."""
    from tips_ros.engine.testmodel import weights_kind as of_configs

    models = (engine.model, engine.text.model if engine.text is not None else None)
    return of_configs(*(model.config for model in models if model is not None))


def _precision_name(engine: Engine) -> str:
    import torch

    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[engine.dtype]


def _versions() -> dict[str, str]:
    import rosbags
    import torch
    import transformers

    return {"tips_ros": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "rosbags": getattr(rosbags, "__version__", "unknown"), "numpy": np.__version__}


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and dict keys as strings (for JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_table(report: dict[str, Any]) -> str:
    """A short human-readable summary of a report."""
    lat = report["latency_ms"]
    lines = [
        f"frames        in {report['frames_in']}  out {report['frames_out']}  "
        f"failed {report['frames_failed']} {report['failures'] or ''}".rstrip(),
        f"speed         {report['fps']:.2f} frames/s  latency p50 {_num(lat['p50'])} ms  "
        f"p99 {_num(lat['p99'])} ms  ({report['device']}, {report['precision']}, "
        f"batch {report['batch']})",
    ]
    for task, values in report["metrics"].items():
        keys = {"depth": ("abs_rel", "rmse", "delta1", "delta2", "delta3"),
                "normals": ("mean_deg", "median_deg", "within_11_25", "within_22_5", "within_30"),
                "segmentation": ("miou", "pixel_acc")}[task]
        lines.append(f"{task:<14}" + "  ".join(f"{k} {_num(values[k])}" for k in keys))
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


# ----------------------------------------------------------------------------- command line
def _heads(text: str) -> set[str]:
    heads = {h.strip() for h in text.split(",") if h.strip()}
    unknown = heads - set(ALL_HEADS)
    if unknown or not heads:
        raise argparse.ArgumentTypeError(f"heads must be among {','.join(ALL_HEADS)}")
    return heads


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tips-ros replay``."""
    parser.add_argument("bag", help="input rosbag2 directory (sqlite3 or mcap)")
    parser.add_argument("--output", required=True, help="output bag directory (must not exist)")
    add_run_options(parser)
    parser.add_argument("--pace", action="store_true",
                        help="release frames at the recorded rate instead of full speed")
    parser.add_argument("--report", help="write the JSON report here")
    parser.add_argument("--preview", help="write a PNG grid of a few frames here")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options of one bag's run (topics, model, heads, queries, batch, frame selection, output
    storage, scoring), shared by ``tips-ros replay`` and ``tips-ros evaluate``."""
    parser.add_argument("--image-topic", help="Image or CompressedImage topic "
                        "(default: the bag's only image topic besides ground truth)")
    parser.add_argument("--camera-info-topic", help="CameraInfo topic "
                        "(default: <image namespace>/camera_info if in the bag)")
    parser.add_argument("--gt-depth-topic", help="ground-truth depth (32FC1 m or 16UC1 mm)")
    parser.add_argument("--gt-normals-topic", help="ground-truth normals (32FC3, optical frame)")
    parser.add_argument("--gt-labels-topic", help="ground-truth class ids (mono8/16UC1)")
    parser.add_argument("--model", default="google/tipsv2-b14-dpt", help="hub id or directory")
    parser.add_argument("--text-model", default="google/tipsv2-b14", help="hub id or directory")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", help="auto, bf16, fp16 or fp32")
    parser.add_argument("--backend", default="torch",
                        help="torch, or onnxruntime (runs --onnx-model)")
    parser.add_argument("--onnx-model", default="",
                        help="ONNX file written by `tips-ros export` (--backend onnxruntime)")
    parser.add_argument("--heads", type=_heads, default=None,
                        help=f"comma-separated subset of {','.join(ALL_HEADS)} (default: "
                        f"{','.join(HEADS)}; heatmaps and zeroshot only with --queries)")
    parser.add_argument("--queries", type=query_list, default=[],
                        help='text queries: "a,b" or a JSON list')
    parser.add_argument("--batch", type=_positive, default=1, help="frames per forward pass")
    parser.add_argument("--max-frames", type=_positive, default=None,
                        help="stop after this many input frames")
    parser.add_argument("--every", type=_positive, default=1, help="use every Nth frame")
    parser.add_argument("--prefix", default="/tips", help="output topic prefix (default /tips)")
    parser.add_argument("--storage", choices=sorted(STORAGES), default="mcap",
                        help="output bag storage")
    parser.add_argument("--median-scaling", action="store_true",
                        help="scale each predicted depth map by median(gt)/median(pred) "
                        "before scoring (off: metric depth is scored as is)")


def load_engine(args: argparse.Namespace) -> Engine:
    """The engine for ``args`` (raises ``ModelLoadError``)."""
    from tips_ros.engine.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(model=args.model, text_model=args.text_model,
                                 device=args.device, precision=args.precision,
                                 backend=args.backend, onnx_model=args.onnx_model))
    missing = {VIEWS.get(head, head) for head in select_heads(args)} - set(engine.heads)
    if missing:
        engine.close()
        raise UsageError(f"ONNX file '{args.onnx_model}' has heads {', '.join(engine.heads)} "
                         f"but this replay needs {', '.join(sorted(missing))} too; export them "
                         f"or choose --heads")
    return engine


def select_heads(args: argparse.Namespace) -> set[str]:
    """Engine heads and colour views to run: ``--heads`` (default all), checked against
    ``--queries`` and the ground-truth topics."""
    heads = set(args.heads) if args.heads else set(HEADS) - ({"heatmaps"} if not args.queries
                                                             else set())
    for head in ("heatmaps", "zeroshot"):
        if head in heads and not args.queries:
            raise UsageError(f"--heads includes {head} but no --queries were given.")
    for task, topic in (("depth", args.gt_depth_topic), ("normals", args.gt_normals_topic),
                        ("segmentation", args.gt_labels_topic)):
        if topic and GT_HEADS[task] not in heads:
            raise UsageError(f"Ground truth for {task} was given but --heads leaves it out.")
    return heads | {view for view, head in VIEWS.items() if head in heads}


def replay(args: argparse.Namespace, engine: Engine, load_s: float = 0.0,
           metrics: MetricsAccumulator | None = None,
           progress: FrameProgress | None = None) -> dict[str, Any]:
    """Run a replay with a loaded ``engine``; returns the report (also written to ``--report``).

    ``load_s`` (seconds spent loading the model) is recorded in the report. ``metrics``, when
    given, is scored into (e.g. one accumulator over several bags; the report then holds the
    running totals); ``progress`` replaces the replay's own progress bar.

    The report is written and the output bag closed also when the bag turns out corrupt
    (``BagError``) or the run is interrupted (``KeyboardInterrupt``); both are re-raised.
    """
    heads = select_heads(args)
    started = time.perf_counter()
    state, topics, scorer = ReplayState(), None, None
    try:
        with open_bag(args.bag) as reader:
            topics = resolve_topics(reader, args)
            engine.set_queries(args.queries)
            if metrics is None:
                metrics = MetricsAccumulator(median_scaling=args.median_scaling,
                                             num_classes=len(engine.labels))
            scorer = Scorer(list(topics.gt), metrics)
            total = expected_frames(reader, topics.image, args)
            with BagWriter(args.output, storage=args.storage) as bag:
                out = OutputBag(bag, args.prefix, output_topics(heads, bool(topics.camera_info)),
                                engine.labels, engine.queries)
                replayer = Replayer(args, engine, topics, heads, out, scorer, total, progress)
                state = replayer.state
                replayer.run(reader)
    except KeyboardInterrupt:
        state.interrupted = True
        raise
    except Exception as err:
        state.error = str(err)
        raise
    finally:
        report = build_report(args, engine, topics, heads, state, scorer,
                              load_s, time.perf_counter() - started)
        if args.report:
            Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    if args.preview and state.preview:
        from tips_ros.offline.preview import RANDOM_WEIGHTS_NOTE, render_preview

        note = RANDOM_WEIGHTS_NOTE if report["weights"] == "random" else None
        render_preview(state.preview, engine.labels, args.preview, note=note)
    return report


def expected_frames(reader: Any, image_topic: str, args: argparse.Namespace) -> int:
    """Input frames a replay of ``reader`` will select (``--every``, ``--max-frames``)."""
    count = math.ceil(reader.topics[image_topic].msgcount / args.every)
    return min(count, args.max_frames) if args.max_frames else count


def check_inputs(args: argparse.Namespace) -> None:
    """Fail fast, before the model loads: bad topics, heads or an existing output path."""
    select_heads(args)
    if Path(args.output).exists():
        raise FileExistsError(f"Output bag {args.output} exists already; choose a new path.")
    with open_bag(args.bag) as reader:
        resolve_topics(reader, args)


def run(args: argparse.Namespace) -> int:
    """``tips-ros replay``: check the inputs, load the model, replay, print the table."""
    check_inputs(args)
    started = time.perf_counter()
    engine = load_engine(args)
    report = replay(args, engine, load_s=time.perf_counter() - started)
    print(format_table(report))
    print(f"output bag: {args.output}")
    for name in ("report", "preview"):
        if getattr(args, name):
            print(f"{name}: {getattr(args, name)}")
    return 1 if report["frames_out"] == 0 and report["frames_in"] else 0

