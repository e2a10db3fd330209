# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Typed options of a replay: what ``tips-ros replay`` and ``tips-ros evaluate`` run.

``RunOptions`` holds everything about one bag's run that does not name the bag (topics,
model, heads, queries, batching, frame selection, output storage, scoring): ``tips-ros
evaluate`` shares one among all its bags. ``ReplayOptions`` adds the input bag, the output
bag and the replay-only extras (pacing, report and preview files). Both are frozen and check
their values when built (``UsageError``, one sentence). The command-line flags of
``add_run_options`` and ``tips_ros.offline.replay.add_arguments`` have the same names as the
fields (``--gt-depth-topic`` -> ``gt_depth_topic``) and take their defaults from them, so
``from_args`` builds the options from a parsed ``argparse.Namespace``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tips_ros.engine.prediction import ALL_HEADS, HEADS, ON_REQUEST_VIEWS, VIEWS
from tips_ros.errors import UsageError
from tips_ros.io.detections import DEFAULT_THRESHOLD
from tips_ros.offline.arguments import positive_int, query_list
from tips_ros.offline.bags import STORAGES

#: Ground-truth task -> the engine head it needs.
GT_HEADS: dict[str, str] = {"depth": "depth", "normals": "normals",
                            "segmentation": "segmentation"}


@dataclass(frozen=True)
class RunOptions:
    """How one bag is replayed and scored (everything but the bag's own paths).

    Topics are absolute names in the input bag; ``None`` picks the default (see
    ``tips_ros.offline.inputs.resolve_topics``). ``model`` and ``text_model`` are hub ids or
    local directories; ``onnx_model`` is the file ``tips-ros export`` wrote (``backend``
    ``onnxruntime``). ``heads`` ``None`` runs depth, normals and segmentation, plus heatmaps
    when there are ``queries``. ``batch`` is frames per forward pass, ``every`` keeps every
    Nth image, ``max_frames`` stops after that many selected images. Output topics go under
    ``prefix`` in a bag of ``storage`` (``mcap`` or ``sqlite3``). ``median_scaling`` scales
    each predicted depth map by ``median(gt) / median(pred)`` before scoring.
    ``detection_threshold``: cosine above which heatmap regions become the ``detections``
    written with the heatmaps (as the node's parameter).
    """

    image_topic: str | None = None
    camera_info_topic: str | None = None
    gt_depth_topic: str | None = None
    gt_normals_topic: str | None = None
    gt_labels_topic: str | None = None
    model: str = "google/tipsv2-b14-dpt"
    text_model: str = "google/tipsv2-b14"
    device: str = "auto"
    precision: str = "auto"
    backend: str = "torch"
    onnx_model: Path | None = None
    heads: frozenset[str] | None = None
    queries: tuple[str, ...] = ()
    batch: int = 1
    max_frames: int | None = None
    every: int = 1
    prefix: str = "/tips"
    storage: str = "mcap"
    median_scaling: bool = False
    detection_threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        """Normalise the container types and check every value (``UsageError``)."""
        object.__setattr__(self, "queries", tuple(self.queries))
        if self.heads is not None:
            object.__setattr__(self, "heads", checked_heads(self.heads))
        onnx = self.onnx_model  # "" (EngineConfig's "none") is None here
        object.__setattr__(self, "onnx_model", Path(onnx) if onnx not in (None, "") else None)
        for name in ("batch", "every", "max_frames"):
            value = getattr(self, name)
            if value is None and name == "max_frames":
                continue
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, not {value!r}.")
        if self.storage not in STORAGES:
            raise UsageError(f"storage must be one of {', '.join(sorted(STORAGES))}, "
                             f"not {self.storage!r}.")
        self.selected_heads()  # the heads agree with the queries and the ground truth

    @property
    def gt_topics(self) -> dict[str, str]:
        """Ground-truth topics given, by task (``depth``, ``normals``, ``segmentation``)."""
        given = {"depth": self.gt_depth_topic, "normals": self.gt_normals_topic,
                 "segmentation": self.gt_labels_topic}
        return {task: topic for task, topic in given.items() if topic}

    def selected_heads(self) -> set[str]:
        """Return the engine heads and colour views to run.

        ``heads``, or by default every head of ``HEADS`` (heatmaps only with queries), plus
        the colour view of each (a view of ``ON_REQUEST_VIEWS`` only when named); raises ``UsageError`` when a text head has no queries or a
        ground-truth topic's head is left out.
        """
        asked = set(self.heads or ())
        heads = asked - ON_REQUEST_VIEWS or set(HEADS) - (
            set() if self.queries else {"heatmaps"})
        heads |= {VIEWS[view] for view in asked & ON_REQUEST_VIEWS}
        for head in ("heatmaps", "zeroshot"):
            if head in heads and not self.queries:
                raise UsageError(f"--heads includes {head} but no --queries were given.")
        for task in self.gt_topics:
            if GT_HEADS[task] not in heads:
                raise UsageError(f"Ground truth for {task} was given but --heads leaves it out.")
        views = {view for view, head in VIEWS.items()
                 if head in heads and (view in asked or view not in ON_REQUEST_VIEWS)}
        return heads | views

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        """Build the options from arguments parsed with ``add_run_options``."""
        return cls(**_fields_of(cls, args))


@dataclass(frozen=True)
class ReplayOptions:
    """One replay: ``bag`` (rosbag2 directory) in, ``output`` (a new bag directory) out.

    ``run`` says how (topics, model, heads, ...). ``pace`` releases frames at their recorded
    rate (header stamps) instead of full speed. ``report`` (JSON) and ``preview`` (PNG grid
    of a few frames) are written when given.
    """

    bag: Path
    output: Path
    run: RunOptions = field(default_factory=RunOptions)
    pace: bool = False
    report: Path | None = None
    preview: Path | None = None

    def __post_init__(self) -> None:
        """Turn the path fields into ``Path`` objects (``str`` is accepted too)."""
        for name in ("bag", "output", "report", "preview"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReplayOptions:
        """Build the options from arguments parsed with ``replay.add_arguments``."""
        return cls(run=RunOptions.from_args(args), **_fields_of(cls, args, skip=("run",)))


def _fields_of(cls: type, args: argparse.Namespace, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Return the values of ``cls``'s fields in ``args`` (flag destinations = field names)."""
    return {item.name: getattr(args, item.name) for item in fields(cls)
            if item.name not in skip}


def checked_heads(heads: Iterable[str]) -> frozenset[str]:
    """Return ``heads`` as a set; ``UsageError`` when empty or naming an unknown head."""
    chosen = frozenset(heads)
    if not chosen or chosen - set(ALL_HEADS) - ON_REQUEST_VIEWS:
        raise UsageError(f"heads must be among {','.join(ALL_HEADS + tuple(ON_REQUEST_VIEWS))}")
    return chosen


def _head_list(text: str) -> frozenset[str]:
    """Parse ``--heads``: comma-separated head names."""
    return checked_heads(h.strip() for h in text.split(",") if h.strip())


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``RunOptions`` (shared by ``tips-ros replay`` and ``evaluate``)."""
    default = RunOptions()
    parser.add_argument("--image-topic", help="Image or CompressedImage topic "
                        "(default: the bag's only image topic besides ground truth)")
    parser.add_argument("--camera-info-topic", help="CameraInfo topic "
                        "(default: <image namespace>/camera_info if in the bag)")
    parser.add_argument("--gt-depth-topic", help="ground-truth depth (32FC1 m or 16UC1 mm)")
    parser.add_argument("--gt-normals-topic", help="ground-truth normals (32FC3, optical frame)")
    parser.add_argument("--gt-labels-topic", help="ground-truth class ids (mono8/16UC1)")
    add_model_options(parser)
    parser.add_argument("--backend", default=default.backend,
                        help="torch, or onnxruntime (runs --onnx-model)")
    parser.add_argument("--onnx-model", type=Path, default=None,
                        help="ONNX file written by `tips-ros export` (--backend onnxruntime)")
    parser.add_argument("--heads", type=_head_list, default=None,
                        help=f"comma-separated subset of {','.join(ALL_HEADS)} (default: "
                        f"{','.join(HEADS)}; heatmaps and zeroshot only with --queries); "
                        f"also {','.join(sorted(ON_REQUEST_VIEWS))}, written only when named")
    parser.add_argument("--queries", type=query_list, default=(),
                        help='text queries: "a,b" or a JSON list')
    parser.add_argument("--batch", type=positive_int, default=default.batch,
                        help="frames per forward pass")
    parser.add_argument("--max-frames", type=positive_int, default=None,
                        help="stop after this many input frames")
    parser.add_argument("--every", type=positive_int, default=default.every,
                        help="use every Nth frame")
    parser.add_argument("--prefix", default=default.prefix,
                        help=f"output topic prefix (default {default.prefix})")
    parser.add_argument("--storage", choices=sorted(STORAGES), default=default.storage,
                        help="output bag storage")
    parser.add_argument("--median-scaling", action="store_true",
                        help="scale each predicted depth map by median(gt)/median(pred) "
                        "before scoring (off: metric depth is scored as is)")
    parser.add_argument("--detection-threshold", type=float, default=default.detection_threshold,
                        help="cosine above which heatmap regions become detections "
                        "(vision_msgs, written with the heatmaps)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--model``, ``--text-model``, ``--device`` and ``--precision`` (replay, demo)."""
    default = RunOptions()
    parser.add_argument("--model", default=default.model, help="hub id or directory")
    parser.add_argument("--text-model", default=default.text_model, help="hub id or directory")
    parser.add_argument("--device", default=default.device, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default=default.precision,
                        help="auto, bf16, fp16 or fp32")
