# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Typed options of a replay and of an evaluation: what ``tips-ros replay`` and ``evaluate`` run.

``RunOptions`` holds everything about one bag's run that does not name the bag (topics,
model, heads, queries, batching, frame selection, output storage, scoring): ``tips-ros
evaluate`` shares one among all its bags. ``ReplayOptions`` adds the input bag, the output
bag and the replay-only extras (pacing, report and preview files); ``EvaluateOptions`` the
inputs, the results folder and the Ray workers. All are frozen and check their values when
built (``UsageError``, one sentence). The command-line flags (``tips_ros.cli.flags``,
``tips_ros.cli.replay``, ``tips_ros.cli.evaluate``) have the fields' names (``--gt-depth-topic``
-> ``gt_depth_topic``) and take their defaults from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tips_ros.engine.parameters import DEFAULTS, prompt_count_error, SPEC_BY_NAME, validate
from tips_ros.engine.prediction import ALL_HEADS, HEADS, ON_REQUEST_VIEWS, OutputSize, VIEWS
from tips_ros.errors import UsageError
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
    written with the heatmaps (as the node's parameter). ``input_size``, ``keep_aspect`` and
    ``compile`` are the node's parameters of those names. ``sources``: where each field's value
    came from (``flag`` or ``params file``; absent: the default), ``not_applied``: parameters
    of a ``--params-file`` that this run does not use (see tips_ros.offline.params_file).
    ``output_size``: the resolution of the outputs written and scored (``input``, ``WxH``
    or a scale; see :class:`~tips_ros.engine.prediction.OutputSize`). ``prompt_templates``,
    ``heatmap_mode``, ``heatmap_temperature``, ``zeroshot_threshold``, ``zeroshot_templates``,
    ``pca_momentum``, ``channels_last`` and ``allow_pickle`` are the node's parameters of those
    names (no flags: set them with ``--params-file``). Every field named for a node parameter
    is checked with that parameter's spec (:func:`tips_ros.engine.parameters.validate`), and
    ``queries`` x each template list with the node's prompt limit
    (:func:`~tips_ros.engine.parameters.prompt_count_error`).
    """

    image_topic: str | None = None
    camera_info_topic: str | None = None
    gt_depth_topic: str | None = None
    gt_normals_topic: str | None = None
    gt_labels_topic: str | None = None
    model: str = DEFAULTS["model"]
    text_model: str = DEFAULTS["text_model"]
    device: str = DEFAULTS["device"]
    precision: str = DEFAULTS["precision"]
    backend: str = DEFAULTS["backend"]
    onnx_model: Path | None = None
    heads: frozenset[str] | None = None
    queries: tuple[str, ...] = ()
    batch: int = 1
    max_frames: int | None = None
    every: int = 1
    prefix: str = "/tips"
    storage: str = "mcap"
    median_scaling: bool = False
    detection_threshold: float = DEFAULTS["detection_threshold"]
    input_size: int = DEFAULTS["input_size"]
    keep_aspect: bool = DEFAULTS["keep_aspect"]
    compile: str = DEFAULTS["compile"]  # noqa: A003 (the node's parameter name)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    not_applied: tuple[str, ...] = ()
    output_size: str = DEFAULTS["output_size"]
    prompt_templates: tuple[str, ...] = DEFAULTS["prompt_templates"]
    heatmap_mode: str = DEFAULTS["heatmap_mode"]
    heatmap_temperature: float = DEFAULTS["heatmap_temperature"]
    zeroshot_threshold: float = DEFAULTS["zeroshot_threshold"]
    zeroshot_templates: tuple[str, ...] = DEFAULTS["zeroshot_templates"]
    pca_momentum: float = DEFAULTS["pca_momentum"]
    channels_last: bool = DEFAULTS["channels_last"]
    allow_pickle: bool = DEFAULTS["allow_pickle"]

    def __post_init__(self) -> None:
        """Normalise the container types and check every value (``UsageError``)."""
        onnx = self.onnx_model  # "" (EngineConfig's "none") is None here
        object.__setattr__(self, "onnx_model", Path(onnx) if onnx not in (None, "") else None)
        for name, value in self.parameters().items():
            reason = validate(name, value, self)
            if reason:
                raise UsageError(f"{reason}.")
        for name in ("queries", "not_applied", "prompt_templates", "zeroshot_templates"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        reason = prompt_count_error(self.queries, self)
        if reason:
            raise UsageError(f"{reason}.")
        object.__setattr__(self, "output_size", OutputSize.parse(self.output_size).text)
        if self.heads is not None:
            object.__setattr__(self, "heads", checked_heads(self.heads))
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

    def parameters(self) -> dict[str, Any]:
        """Return the fields named for a node parameter, as that parameter's spec takes them.

        ``onnx_model`` as a string (``""``: none), string lists as tuples; the keys are the
        parameter names (``queries`` is ``text_queries`` and is checked by its flag's parser).
        """
        values = {item.name: getattr(self, item.name) for item in fields(self)
                  if item.name in SPEC_BY_NAME}
        return values | {"onnx_model": str(self.onnx_model or "")}

    @property
    def gt_topics(self) -> dict[str, str]:
        """Ground-truth topics given, by task (``depth``, ``normals``, ``segmentation``)."""
        given = {"depth": self.gt_depth_topic, "normals": self.gt_normals_topic,
                 "segmentation": self.gt_labels_topic}
        return {task: topic for task, topic in given.items() if topic}

    def selected_heads(self) -> set[str]:
        """Return the engine heads and colour views to run.

        ``heads``, or by default every head of ``HEADS`` (heatmaps only with queries), plus
        the colour view of each (a view of ``ON_REQUEST_VIEWS`` only when named); raises
        ``UsageError`` when a text head has no queries or a ground-truth topic's head is left
        out.
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


@dataclass(frozen=True)
class EvaluateOptions:
    """An evaluation: every bag found in ``inputs`` replayed with ``run`` into ``output``.

    ``inputs`` are rosbag2 directories (or a bag's file) and folders searched recursively for
    them; ``output`` is the results folder. ``workers`` Ray workers (default: one per
    ``gpus_per_worker`` GPUs of the cluster, or 1 without GPUs) each load the model once and
    get ``cpus_per_worker`` CPU cores (their torch threads) and ``gpus_per_worker`` GPUs (may
    be fractional; default 1 when the cluster has GPUs, else 0). ``address`` joins a Ray
    cluster (``auto``, ``host:port`` or ``ray://host:port``) instead of starting a local Ray.
    ``overwrite`` replays also the bags an earlier run finished.
    """

    inputs: tuple[Path, ...]
    output: Path
    run: RunOptions = field(default_factory=RunOptions)
    workers: int | None = None
    gpus_per_worker: float | None = None
    address: str | None = None
    cpus_per_worker: int = 1
    overwrite: bool = False

    def __post_init__(self) -> None:
        """Turn paths into ``Path`` objects and check the counts (``UsageError``)."""
        object.__setattr__(self, "inputs", tuple(Path(path) for path in self.inputs))
        object.__setattr__(self, "output", Path(self.output))
        if not self.inputs:
            raise UsageError("inputs must name at least one bag or folder of bags.")
        for name in ("workers", "cpus_per_worker"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UsageError(f"{name} must be a positive integer, not {value!r}.")
        if self.gpus_per_worker is not None and not self.gpus_per_worker >= 0:
            raise UsageError(f"gpus_per_worker must be a number >= 0, "
                             f"not {self.gpus_per_worker!r}.")


def checked_heads(heads: Iterable[str]) -> frozenset[str]:
    """Return ``heads`` as a set; ``UsageError`` when empty or naming an unknown head."""
    chosen = frozenset(heads)
    if not chosen or chosen - set(ALL_HEADS) - ON_REQUEST_VIEWS:
        raise UsageError(f"heads must be among {','.join(ALL_HEADS + tuple(ON_REQUEST_VIEWS))}")
    return chosen
