# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Dense prediction metrics: depth, surface normals, semantic segmentation (numpy only).

Every metric has a one-frame function (``depth_metrics``, ``normal_metrics``,
``segmentation_metrics``) and an accumulator (``DepthAccumulator``, ``NormalAccumulator``,
``SegmentationAccumulator``, bundled in ``MetricsAccumulator``) that sums per-pixel statistics
over frames, so a whole bag is scored as one dataset:

- depth and normal metrics are averaged over all valid pixels of all frames (each pixel has
  the same weight; a frame with more valid pixels counts more), RMSE is the square root of
  the summed squared error over the summed pixel count;
- mIoU is computed from intersections and unions summed over all frames (dataset-level IoU),
  not as a mean of per-frame mIoUs.

The one-frame functions are the accumulators applied to one frame. Each accumulator adds a
frame in two steps: the frame's sums (``DepthFrame``, ``NormalFrame``, ``SegmentationFrame``;
here from numpy arrays, in :mod:`tips_ros.offline.device_metrics` on the engine's device),
then ``add_frame``, which adds them exactly.

Float sums are kept exactly (``fractions.Fraction`` of each frame's float sum), so
accumulators of different bags or processes ``merge`` into exactly the accumulator one process
would have built over all their frames, in any order; ``state()`` / ``from_state()`` carry an
accumulator through JSON (``tips-ros evaluate`` merges the states of its per-bag reports).
``Sums`` is that base of every accumulator.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any, ClassVar, TypeVar

import numpy as np

_S = TypeVar("_S", bound="Sums")


class Sums:
    """Exact merging and a JSON-safe state for an accumulator dataclass.

    All its fields are sums (ints, ``Fraction``, lists of ints, integer arrays) except the
    configuration fields named in ``CONFIG``, which must agree for a merge.
    """

    CONFIG: ClassVar[tuple[str, ...]] = ()

    def merge(self: _S, other: _S) -> None:
        """Add ``other``'s sums to these (same configuration required)."""
        for item in fields(self):  # type: ignore[arg-type]
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if item.name in self.CONFIG:
                if mine != theirs:
                    raise ValueError(f"cannot merge accumulators with {item.name} {mine!r} "
                                     f"and {theirs!r}")
            elif isinstance(mine, list):
                setattr(self, item.name, [a + b for a, b in zip(mine, theirs)])
            else:
                setattr(self, item.name, mine + theirs)

    def state(self) -> dict[str, Any]:
        """Return a JSON-safe state of the sums.

        Ints as is, ``Fraction`` as ``"num/den"``, integer arrays as
        ``{"size": n, "int64_zlib_base64": ...}`` (little-endian int64, zlib, base64).
        """
        return {item.name: _encode(getattr(self, item.name))
                for item in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_state(cls: type[_S], state: dict[str, Any]) -> _S:
        """Return the accumulator a ``state()`` was taken of."""
        acc = cls(**{name: state[name] for name in cls.CONFIG})
        for item in fields(acc):  # type: ignore[arg-type]
            if item.name not in cls.CONFIG:
                setattr(acc, item.name, _decode(state[item.name], getattr(acc, item.name)))
        return acc


def _encode(value: Any) -> Any:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, np.ndarray):
        data = zlib.compress(value.astype("<i8").tobytes())
        return {"size": int(value.size), "int64_zlib_base64": base64.b64encode(data).decode()}
    return list(value) if isinstance(value, list) else value


def _decode(value: Any, template: Any) -> Any:
    if isinstance(template, Fraction):
        return Fraction(value)
    if isinstance(template, np.ndarray):
        data = zlib.decompress(base64.b64decode(value["int64_zlib_base64"]))
        array = np.frombuffer(data, dtype="<i8").astype(template.dtype)
        if array.size != value["size"]:
            raise ValueError(f"state array has {array.size} values, expected {value['size']}")
        return array
    return list(value) if isinstance(template, list) else value


#: Thresholds of the depth accuracy metrics delta1, delta2, delta3.
DELTA_THRESHOLDS: tuple[float, float, float] = (1.25, 1.25**2, 1.25**3)

#: Angle thresholds (degrees) of the normal accuracy metrics.
NORMAL_THRESHOLDS_DEG: tuple[float, float, float] = (11.25, 22.5, 30.0)

#: Histogram bin width (degrees) used for the median angle over many frames.
ANGLE_BIN_DEG = 0.01
#: Bins of that histogram (0 to 180 degrees).
ANGLE_BINS = int(round(180.0 / ANGLE_BIN_DEG))


def _valid_mask(shape: tuple[int, ...], valid: np.ndarray | None) -> np.ndarray:
    if valid is None:
        return np.ones(shape, dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != shape:
        raise ValueError(f"valid mask shape {valid.shape} does not match {shape}")
    return valid


def _dot3(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """Return ``(a0 * b0 + a1 * b1) + a2 * b2`` of three planes, with one temporary."""
    out, term = np.multiply(a[0], b[0]), np.multiply(a[1], b[1])
    out += term
    out += np.multiply(a[2], b[2], out=term)
    return out


def _angles_deg(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Angles (degrees) between the valid, finite, non-zero normal pairs of two HxWx3 maps.

    In float64, one channel plane at a time: the same sums in the same order as the
    row-wise ``sum(p * g, axis=-1)`` and Euclidean norms, so the angles are bit-identical,
    without the slow reductions over a 3-long axis; no selection when every pixel counts.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 3:
        raise ValueError(f"normal maps must both be HxWx3, got {pred.shape} and {gt.shape}")
    p = [pred[:, :, c].astype(np.float64) for c in range(3)]
    g = [gt[:, :, c].astype(np.float64) for c in range(3)]
    dot, pred_norm, gt_norm = _dot3(p, g), np.sqrt(_dot3(p, p)), np.sqrt(_dot3(g, g))
    with np.errstate(invalid="ignore"):
        mask = (
            _valid_mask(gt.shape[:2], valid)
            & np.isfinite(pred_norm)
            & np.isfinite(gt_norm)
            & (pred_norm > 0)
            & (gt_norm > 0)
        )
    if mask.all():
        cos = dot.reshape(-1) / (pred_norm * gt_norm).reshape(-1)
    else:
        cos = dot[mask] / (pred_norm[mask] * gt_norm[mask])
    np.clip(cos, -1.0, 1.0, out=cos)
    return np.degrees(np.arccos(cos, out=cos), out=cos)


@dataclass(frozen=True)
class DepthFrame:
    """One frame's depth sums (``DepthAccumulator``).

    Over its ``count`` valid pixels: the sums of ``|p - g| / g`` (``abs_rel``) and
    ``(p - g)^2`` (``sq_err``, m^2), the pixels within each ``DELTA_THRESHOLDS``
    (``deltas``) and the median scale applied (``scale``, 1.0 without median scaling).
    """

    count: int
    abs_rel: float
    sq_err: float
    deltas: tuple[int, int, int]
    scale: float = 1.0

    @classmethod
    def of(cls, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None,
           median_scaling: bool = False) -> DepthFrame:
        """Return the sums of ``pred`` against ``gt`` (``HxW``, metres), in float64 (numpy)."""
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.shape != gt.shape:
            raise ValueError(f"depth shapes differ: pred {pred.shape}, gt {gt.shape}")
        with np.errstate(invalid="ignore"):
            mask = _valid_mask(gt.shape, valid) & np.isfinite(gt) & (gt > 0) & np.isfinite(pred)
        if mask.all():  # no selection (a copy) when every pixel counts
            p, g = pred.astype(np.float64).reshape(-1), gt.astype(np.float64).reshape(-1)
        else:
            p, g = pred[mask].astype(np.float64), gt[mask].astype(np.float64)
        if p.size == 0:
            return cls(0, 0.0, 0.0, (0, 0, 0))
        scale = 1.0
        if median_scaling:
            median_pred = float(np.median(p))
            if median_pred > 0:
                scale = float(np.median(g)) / median_pred
            p = p * scale
        err = p - g
        abs_rel = float(np.sum(np.abs(err) / g))
        sq_err = float(np.sum(np.square(err, out=err)))
        positive = p > 0
        if positive.all():
            ratio = np.maximum(np.divide(p, g), np.divide(g, p, out=p), out=p)
        else:
            ratio = np.full(p.shape, np.inf)
            ratio[positive] = np.maximum(p[positive] / g[positive], g[positive] / p[positive])
        deltas = tuple(int(np.count_nonzero(ratio < t)) for t in DELTA_THRESHOLDS)
        return cls(int(p.size), abs_rel, sq_err, deltas, scale)  # type: ignore[arg-type]


@dataclass
class DepthAccumulator(Sums):
    """Sums depth error statistics over frames.

    Pixels count when the optional ``valid`` mask is true, the ground truth is finite and
    > 0, and the prediction is finite. Per pixel, with prediction ``p`` and ground truth
    ``g`` in metres (``p`` first multiplied by the frame's scale ``s = median(g) / median(p)``
    when ``median_scaling`` is on, medians over the frame's valid pixels):

    - ``abs_rel = mean(|p - g| / g)`` (unitless),
    - ``rmse = sqrt(mean((p - g)^2))`` (metres),
    - ``delta_k = mean(max(p / g, g / p) < 1.25^k)`` for k = 1, 2, 3; a prediction <= 0
      never counts as within a threshold.

    ``scale`` in the report is the mean of the per-frame scales (1.0 without scaling).
    """

    CONFIG = ("median_scaling",)
    median_scaling: bool = False
    count: int = 0
    abs_rel_sum: Fraction = Fraction(0)
    sq_err_sum: Fraction = Fraction(0)
    delta_counts: list[int] = field(default_factory=lambda: [0, 0, 0])
    scale_sum: Fraction = Fraction(0)
    scale_frames: int = 0

    def add(self, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add one frame: ``pred`` and ``gt`` are ``HxW`` depth maps in metres."""
        self.add_frame(DepthFrame.of(pred, gt, valid, self.median_scaling))

    def add_frame(self, frame: DepthFrame) -> None:
        """Add one frame's sums (a frame without valid pixels adds nothing)."""
        if not frame.count:
            return
        self.count += frame.count
        self.abs_rel_sum += Fraction(frame.abs_rel)
        self.sq_err_sum += Fraction(frame.sq_err)
        self.delta_counts = [a + b for a, b in zip(self.delta_counts, frame.deltas)]
        if self.median_scaling:
            self.scale_sum += Fraction(frame.scale)
            self.scale_frames += 1

    def report(self) -> dict[str, float | int | bool]:
        """Metrics over every pixel added so far (NaN values when no pixel was valid)."""
        n = self.count
        nan = float("nan")
        return {
            "abs_rel": float(self.abs_rel_sum / n) if n else nan,
            "rmse": float(np.sqrt(float(self.sq_err_sum / n))) if n else nan,
            "delta1": self.delta_counts[0] / n if n else nan,
            "delta2": self.delta_counts[1] / n if n else nan,
            "delta3": self.delta_counts[2] / n if n else nan,
            "median_scaling": self.median_scaling,
            "scale": float(self.scale_sum / self.scale_frames) if self.scale_frames else 1.0,
            "pixels": n,
        }


@dataclass(frozen=True)
class NormalFrame:
    """One frame's normal sums (``NormalAccumulator``).

    Over its ``count`` valid pixels: the sum of the angles (``angle_sum``, degrees), the
    pixels within each ``NORMAL_THRESHOLDS_DEG`` (``within``) and the ``ANGLE_BIN_DEG``
    histogram of the angles (``histogram``, int64).
    """

    count: int
    angle_sum: float
    within: tuple[int, int, int]
    histogram: np.ndarray

    @classmethod
    def of(cls, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None
           ) -> NormalFrame:
        """Return the sums of ``pred`` against ``gt`` (``HxWx3``), in float64 (numpy)."""
        angles = _angles_deg(pred, gt, valid)
        bins = np.minimum((angles / ANGLE_BIN_DEG).astype(np.int64), ANGLE_BINS - 1)
        within = tuple(int(np.count_nonzero(angles < t)) for t in NORMAL_THRESHOLDS_DEG)
        return cls(int(angles.size), float(np.sum(angles)), within,  # type: ignore[arg-type]
                   np.bincount(bins, minlength=ANGLE_BINS))


@dataclass
class NormalAccumulator(Sums):
    """Sums angular error statistics of surface normals over frames.

    Per pixel, the error is ``angle = degrees(arccos(clip(dot(p, g), -1, 1)))`` between the
    prediction and ground truth, both normalised to unit length first and both in one sign
    convention (replay: the published outward normals against outward ground truth, such as
    :mod:`tips_ros.offline.synthetic`'s). Pixels count when
    ``valid`` is true and both vectors are finite and non-zero. Reported:
    ``mean_deg``, ``median_deg`` and the fractions (0..1) ``within_11_25``, ``within_22_5``,
    ``within_30`` of pixels with ``angle < threshold``. The mean and fractions are exact; the
    median over many frames comes from a histogram of ``ANGLE_BIN_DEG`` wide bins (the
    bin's centre), so it is exact to 0.005 degrees.
    """

    count: int = 0
    angle_sum: Fraction = Fraction(0)
    within_counts: list[int] = field(default_factory=lambda: [0, 0, 0])
    histogram: np.ndarray = field(
        default_factory=lambda: np.zeros(ANGLE_BINS, dtype=np.int64)
    )

    def add(self, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add one frame: ``pred`` and ``gt`` are ``HxWx3`` normal maps in the same frame."""
        self.add_frame(NormalFrame.of(pred, gt, valid))

    def add_frame(self, frame: NormalFrame) -> None:
        """Add one frame's sums."""
        self.count += frame.count
        self.angle_sum += Fraction(frame.angle_sum)
        self.within_counts = [a + b for a, b in zip(self.within_counts, frame.within)]
        self.histogram += frame.histogram

    def report(self) -> dict[str, float | int]:
        """Metrics over every pixel added so far (NaN values when no pixel was valid)."""
        n = self.count
        nan = float("nan")
        median = nan
        if n:
            median_bin = int(np.searchsorted(np.cumsum(self.histogram), (n + 1) / 2))
            median = (median_bin + 0.5) * ANGLE_BIN_DEG
        return {
            "mean_deg": float(self.angle_sum / n) if n else nan,
            "median_deg": median,
            "within_11_25": self.within_counts[0] / n if n else nan,
            "within_22_5": self.within_counts[1] / n if n else nan,
            "within_30": self.within_counts[2] / n if n else nan,
            "pixels": n,
        }


@dataclass(frozen=True)
class SegmentationFrame:
    """One frame's segmentation sums (``SegmentationAccumulator``).

    Per class ``c`` the pixels of ``pred == gt == c`` (``intersection``), ``pred == c``
    (``pred_area``) and ``gt == c`` (``gt_area``), int64 arrays; ``correct`` and ``count``
    pixels (ignored ones left out).
    """

    intersection: np.ndarray
    pred_area: np.ndarray
    gt_area: np.ndarray
    correct: int
    count: int

    @classmethod
    def of(cls, pred: np.ndarray, gt: np.ndarray, num_classes: int = 150,
           ignore_index: int = 255) -> SegmentationFrame:
        """Return the sums of class-id map ``pred`` against ``gt`` (``HxW`` integers; numpy)."""
        pred = np.asarray(pred).astype(np.int64)
        gt = np.asarray(gt).astype(np.int64)
        if pred.shape != gt.shape:
            raise ValueError(f"label shapes differ: pred {pred.shape}, gt {gt.shape}")
        keep = gt != ignore_index
        p, g = pred[keep], gt[keep]
        if np.any((g < 0) | (g >= num_classes)):
            raise ValueError(ground_truth_ids_error(num_classes, ignore_index))
        hit = p == g
        in_range = (p >= 0) & (p < num_classes)
        return cls(np.bincount(g[hit], minlength=num_classes),
                   np.bincount(p[in_range], minlength=num_classes),
                   np.bincount(g, minlength=num_classes), int(np.count_nonzero(hit)),
                   int(g.size))


def ground_truth_ids_error(num_classes: int, ignore_index: int) -> str:
    """Return the error of label ground truth with ids outside ``0..num_classes-1``/ignore."""
    return f"ground-truth ids must be in 0..{num_classes - 1} or {ignore_index}"


@dataclass
class SegmentationAccumulator(Sums):
    """Sums per-class intersections and unions of label maps over frames.

    Pixels whose ground truth equals ``ignore_index`` are left out. For class ``c``, over all
    frames, ``I_c = #(pred == c and gt == c)``, ``U_c = #(pred == c or gt == c)`` and
    ``IoU_c = I_c / U_c``. ``miou`` is the mean of ``IoU_c`` over the classes **present**,
    i.e. with ``U_c > 0`` (in the ground truth or in the prediction of at least one counted
    pixel); classes absent from both are not averaged in as 0 or 1. ``pixel_acc`` is
    ``#(pred == gt) / #counted pixels``. Predicted ids outside ``0..num_classes-1`` count as
    wrong and belong to no class.
    """

    CONFIG = ("num_classes", "ignore_index")
    num_classes: int = 150
    ignore_index: int = 255
    intersection: np.ndarray = field(init=False)
    pred_area: np.ndarray = field(init=False)
    gt_area: np.ndarray = field(init=False)
    correct: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        self.intersection = np.zeros(self.num_classes, dtype=np.int64)
        self.pred_area = np.zeros(self.num_classes, dtype=np.int64)
        self.gt_area = np.zeros(self.num_classes, dtype=np.int64)

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one frame: ``pred`` and ``gt`` are ``HxW`` integer class-id maps."""
        self.add_frame(SegmentationFrame.of(pred, gt, self.num_classes, self.ignore_index))

    def add_frame(self, frame: SegmentationFrame) -> None:
        """Add one frame's sums (of this accumulator's ``num_classes``)."""
        self.intersection += frame.intersection
        self.pred_area += frame.pred_area
        self.gt_area += frame.gt_area
        self.correct += frame.correct
        self.count += frame.count

    def report(self) -> dict[str, float | int | dict[int, float]]:
        """``miou``, ``pixel_acc``, ``per_class_iou`` ({class id: IoU} of present classes)."""
        union = self.pred_area + self.gt_area - self.intersection
        present = np.flatnonzero(union > 0)
        ious = self.intersection[present] / union[present]
        nan = float("nan")
        return {
            "miou": float(np.mean(ious)) if present.size else nan,
            "pixel_acc": self.correct / self.count if self.count else nan,
            "per_class_iou": {int(c): float(v) for c, v in zip(present, ious)},
            "classes_present": int(present.size),
            "pixels": self.count,
        }


def depth_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None = None,
    median_scaling: bool = False,
) -> dict[str, float | int | bool]:
    """Depth metrics of one frame (see ``DepthAccumulator`` for formulas; metres)."""
    acc = DepthAccumulator(median_scaling=median_scaling)
    acc.add(pred, gt, valid)
    return acc.report()


def normal_metrics(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None
) -> dict[str, float | int]:
    """Angular normal metrics of one frame in degrees (see ``NormalAccumulator``).

    Unlike the accumulator, ``median_deg`` here is the exact median of the frame's angles.
    """
    acc = NormalAccumulator()
    acc.add(pred, gt, valid)
    report = acc.report()
    if acc.count:
        report["median_deg"] = float(np.median(_angles_deg(pred, gt, valid)))
    return report


def segmentation_metrics(
    pred: np.ndarray, gt: np.ndarray, num_classes: int = 150, ignore_index: int = 255
) -> dict[str, float | int | dict[int, float]]:
    """Segmentation metrics of one frame (see ``SegmentationAccumulator``)."""
    acc = SegmentationAccumulator(num_classes=num_classes, ignore_index=ignore_index)
    acc.add(pred, gt)
    return acc.report()


@dataclass
class MetricsAccumulator:
    """Scores a whole bag: one accumulator per task, created on the first frame that has it."""

    median_scaling: bool = False
    num_classes: int = 150
    ignore_index: int = 255
    depth: DepthAccumulator | None = None
    normals: NormalAccumulator | None = None
    segmentation: SegmentationAccumulator | None = None

    def add_depth(self, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add one frame's depth (metres)."""
        self.task("depth").add(pred, gt, valid)

    def add_normals(
        self, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None
    ) -> None:
        """Add one frame's normals (unit vectors, same frame for both)."""
        self.task("normals").add(pred, gt, valid)

    def add_segmentation(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one frame's class-id maps."""
        self.task("segmentation").add(pred, gt)

    def add_frame(self, task: str, frame: DepthFrame | NormalFrame | SegmentationFrame) -> None:
        """Add one frame's sums of ``task`` (``depth``, ``normals`` or ``segmentation``)."""
        self.task(task).add_frame(frame)  # type: ignore[arg-type]

    def task(self, name: str) -> Any:
        """Return the accumulator of task ``name``, created on first use."""
        acc = getattr(self, name)
        if acc is None:
            new = {"depth": lambda: DepthAccumulator(median_scaling=self.median_scaling),
                   "normals": NormalAccumulator,
                   "segmentation": lambda: SegmentationAccumulator(self.num_classes,
                                                                   self.ignore_index)}
            acc = new[name]()
            setattr(self, name, acc)
        return acc

    def report(self) -> dict[str, dict]:
        """``{"depth": ..., "normals": ..., "segmentation": ...}`` for the tasks added."""
        parts = {"depth": self.depth, "normals": self.normals, "segmentation": self.segmentation}
        return {name: acc.report() for name, acc in parts.items() if acc is not None}

    def merge(self, other: MetricsAccumulator) -> None:
        """Add ``other``'s sums (another bag or process) to these: exact, in any order."""
        config = (self.median_scaling, self.num_classes, self.ignore_index)
        if config != (other.median_scaling, other.num_classes, other.ignore_index):
            raise ValueError("cannot merge metrics with different median_scaling, num_classes "
                             "or ignore_index")
        for name, kind in _TASK_ACCUMULATORS.items():
            theirs = getattr(other, name)
            if theirs is None:
                continue
            if getattr(self, name) is None:
                setattr(self, name, kind.from_state(theirs.state()))  # a copy
            else:
                getattr(self, name).merge(theirs)

    def state(self) -> dict[str, Any]:
        """JSON-safe raw sums (see ``from_state``)."""
        tasks = {name: getattr(self, name) for name in _TASK_ACCUMULATORS}
        return {"median_scaling": self.median_scaling, "num_classes": self.num_classes,
                "ignore_index": self.ignore_index,
                **{name: acc.state() if acc else None for name, acc in tasks.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MetricsAccumulator:
        """Return the accumulator a ``state()`` was taken of."""
        acc = cls(state["median_scaling"], state["num_classes"], state["ignore_index"])
        for name, kind in _TASK_ACCUMULATORS.items():
            if state.get(name) is not None:
                setattr(acc, name, kind.from_state(state[name]))
        return acc


#: ``MetricsAccumulator`` attribute -> its accumulator class.
_TASK_ACCUMULATORS: dict[str, type[Sums]] = {
    "depth": DepthAccumulator, "normals": NormalAccumulator,
    "segmentation": SegmentationAccumulator,
}
