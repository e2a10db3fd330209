# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Raw head outputs -> outputs at each camera image's resolution, then one copy to the host.

Shared by both backends. For the images of one original size (``H x W`` pixels) at once, on
the device: bilinear upsampling of depth (metres), heatmaps and the PCA view; the normals
recipe (normalise, bicubic, normalise, fp32; optical frame); the class argmax, chunked over
classes to bound memory; zero-shot ids; the rgb8 colour views. :func:`to_host` then copies
every tensor of an ``infer`` call to the host with one synchronisation and splits the batches
into one :class:`~tips_ros.engine.prediction.Prediction` per image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from tips_ros.engine import colors
from tips_ros.engine.features import colorize_zeroshot, zeroshot_ids
from tips_ros.engine.prediction import Prediction

#: A per-image computation on the device: the image's output tensors (Prediction field ->
#: tensor at its output size) -> small tensors downloaded with them (``Prediction.reductions``).
Reduction = Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]]


@dataclass
class DeviceOutputs:
    """Post-processed outputs of the images of one original size, still on the device.

    ``indices`` are the images' positions in the ``infer`` call; ``tensors`` maps Prediction
    field names to batched tensors whose first dimension follows ``indices``;
    ``reductions`` maps an image's position to what its reduction returned (:meth:`reduce`).
    """

    indices: list[int]
    tensors: dict[str, torch.Tensor]
    reductions: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)

    def reduce(self, reductions: Mapping[int, Reduction | None]) -> None:
        """Apply each image's reduction (by position; None: none) to its own output rows."""
        for row, index in enumerate(self.indices):
            reduction = reductions.get(index)
            if reduction is not None:
                self.reductions[index] = reduction(
                    {name: tensor[row] for name, tensor in self.tensors.items()})


@dataclass(frozen=True)
class Palettes:
    """Device colour tables of the views: ``(K, 3)`` uint8 per class and ``(Q, 3)`` per query."""

    classes: torch.Tensor
    queries: torch.Tensor


def upsample(tensor: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Upsample ``(B, C, h, w)`` bilinearly (half-pixel centres) to ``shape`` = (H, W).

    ``C`` may be 0 (no queries): the result is then an empty ``(B, 0, H, W)`` tensor.
    """
    if tensor.shape[1] == 0:
        return tensor.new_empty((tensor.shape[0], 0, *shape))
    return F.interpolate(tensor, size=shape, mode="bilinear", align_corners=False)


def upsample_normals(normals: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Upsample ``(B, 3, h, w)`` normals to ``(B, 3, H, W)`` unit normals, in fp32.

    The authors' recipe (their notebook): normalise, bicubic (half-pixel centres), normalise;
    the frame is unchanged (camera optical frame). The project's one normals upsampling.
    Bilinear instead differs by 0.25-0.29 deg p50, 2.5-3.0 deg p99, up to 12 deg (tiny and
    B/14 random weights, 448 -> 640x480) and costs the same on the CPU (docs/models.md).
    """
    unit = F.normalize(normals.float(), dim=1)
    return F.normalize(F.interpolate(unit, size=shape, mode="bicubic", align_corners=False), dim=1)


def resize_frames(frames: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Resize ``(B, H, W, 3)`` uint8 frames to ``shape`` = (h, w) for the overlay views.

    Bilinear with antialiasing, rounded to uint8 levels (as the model input is made); the
    frames themselves when they have that size.
    """
    if tuple(frames.shape[1:3]) == tuple(shape):
        return frames
    chw = F.interpolate(frames.permute(0, 3, 1, 2).float(), size=shape, mode="bilinear",
                        align_corners=False, antialias=True)
    return chw.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def upsampled_argmax(logits: torch.Tensor, shape: tuple[int, int], chunk: int = 16,
                     probability: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return the class ``argmax`` of the bilinearly upsampled ``(B, K, h, w)`` logits.

    The ids are ``(B, H, W)``, equal to ``upsample(logits, shape).argmax(1)`` (ties to the
    lower class id), but ``chunk`` classes are upsampled at a time, so memory is
    ``B x chunk x H x W`` instead of ``B x K x H x W`` (150 classes at 640x480 would be 184 MB
    of fp32 per frame). ``probability``: also the winning class's softmax probability over
    the upsampled logits, ``(B, H, W)`` fp32 in (0, 1], from a running log-sum-exp in the same
    chunks (``1 / sum_k exp(l_k - l_max)``); else None.
    """
    best_value = best_index = total = None
    for start in range(0, logits.shape[1], chunk):
        part = upsample(logits[:, start:start + chunk].float(), shape)
        value, index = part.max(dim=1)
        if best_value is None:
            best_value, best_index = value, index
            if probability:  # sum of exp(l - max) so far, relative to best_value (in place)
                total = part.sub_(value[:, None]).exp_().sum(dim=1)
            continue
        better = value > best_value
        new_best = torch.maximum(value, best_value)
        if probability:
            total = (total * torch.exp(best_value - new_best)
                     + part.sub_(new_best[:, None]).exp_().sum(dim=1))
        best_value = new_best
        best_index = torch.where(better, index + start, best_index)
    return best_index, None if total is None else total.reciprocal()


def fits_mono8(classes: int) -> bool:
    """Whether ``classes`` ids fit a mono8 mask: 0..254, as 255 is UNLABELED (LabelInfo.msg)."""
    return classes <= 255


def rows(tensor: torch.Tensor, positions: list[int]) -> torch.Tensor:
    """Select rows ``positions`` of a batched tensor.

    A view for a contiguous run, else gathered on the tensor's device (no host index tensor
    to upload).
    """
    if positions == list(range(positions[0], positions[-1] + 1)):
        return tensor[positions[0]:positions[-1] + 1]
    return torch.cat([tensor[p:p + 1] for p in positions])


def finish(raw: dict[str, torch.Tensor], frames: torch.Tensor | None, shape: tuple[int, int],
           heads: set[str], palettes: Palettes,
           zeroshot_threshold: float) -> dict[str, torch.Tensor]:
    """Post-process one size group on the device, without waiting for it.

    ``raw``: head outputs at head resolution (rows of this group, as ``Engine.raw_heads``);
    ``frames``: the group's ``(b, H, W, 3)`` uint8 images, needed for the overlay views only
    (resized to ``shape`` first when their size differs); ``shape`` = (H, W), the output size.
    Returns Prediction field name -> batched tensor at ``H x W``: every head is upsampled
    once, straight from its own resolution to ``shape``.
    """
    if frames is not None:
        frames = resize_frames(frames, shape)
    out: dict[str, torch.Tensor] = {}
    if "depth" in heads:
        out["depth"] = upsample(raw["depth"][:, None], shape)[:, 0]
    if "normals" in heads:
        out["normals"] = upsample_normals(raw["normals"], shape).permute(0, 2, 3, 1)
        if "normals_color" in heads:
            out["normals_color"] = colors.colorize_normals(out["normals"])
    if "segmentation" in heads:
        class_ids, probability = upsampled_argmax(
            raw["segmentation"], shape, probability="segmentation_confidence" in heads)
        out["class_ids"] = class_ids.to(torch.uint8 if fits_mono8(raw["segmentation"].shape[1])
                                        else torch.int32)  # uint16 on the host
        if probability is not None:  # mono8: winning class probability * 255
            out["confidence"] = (probability * 255).round_().to(torch.uint8)
        if "segmentation_color" in heads:
            out["segmentation_color"] = colors.colorize_labels(class_ids, palettes.classes)
    if "heatmaps" in heads:
        heatmaps = upsample(raw["heatmaps"], shape)
        out["heatmaps"] = heatmaps.permute(0, 2, 3, 1)
        if "heatmaps_color" in heads:
            out["heatmaps_color"] = colors.overlay_heatmaps(
                frames, heatmaps, palette=palettes.queries)
    if "features" in heads:
        out["features"] = raw["features"].float()
        if "features_pca" in heads:
            pca = upsample(raw["features_pca"], shape).permute(0, 2, 3, 1)
            out["features_pca"] = (pca * 255).round().clamp(0, 255).to(torch.uint8)
    if "embedding" in heads:
        out["embedding"] = raw["embedding"]
    if "zeroshot" in heads:
        scores = upsample(raw["zeroshot"], shape)
        ids = torch.stack([zeroshot_ids(s, zeroshot_threshold) for s in scores])
        out["zeroshot"] = ids
        if "zeroshot_color" in heads:
            out["zeroshot_color"] = colorize_zeroshot(frames, ids, palettes.queries)
    return out


def to_host(outputs: list[DeviceOutputs], device: torch.device,
            queries: tuple[str, ...]) -> list[Prediction]:
    """Copy every output tensor to the host with ONE synchronisation of ``device``.

    Returns one Prediction per image, in ``indices`` order, each array a view of its group's
    batched host array; ``queries`` are recorded in each, and so are the images' reductions
    (``Prediction.reductions``). On CUDA the copies go non-blocking
    into pinned host tensors (torch's caching host allocator hands the same pinned blocks out
    again once the arrays are released), then the stream is synchronised once. On the CPU the
    tensors already are host memory: no copy beyond making them contiguous.
    """
    tensors = [t for group in outputs for t in group.tensors.values()]
    reduced = [(index, name, t) for group in outputs
               for index, sums in group.reductions.items() for name, t in sums.items()]
    tensors += [t for _, _, t in reduced]
    if device.type == "cuda":
        hosts = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in tensors]
        for host, tensor in zip(hosts, tensors):
            host.copy_(tensor, non_blocking=True)
        torch.cuda.current_stream(device).synchronize()
    else:
        hosts = [t.contiguous() for t in tensors]
    arrays = iter([host.numpy() for host in hosts])
    predictions: dict[int, Prediction] = {}
    for group in outputs:
        batch = {name: next(arrays) for name in group.tensors}
        if "class_ids" in batch and batch["class_ids"].dtype != np.uint8:
            batch["class_ids"] = batch["class_ids"].astype(np.uint16)
        for row, index in enumerate(group.indices):
            predictions[index] = Prediction(
                queries=queries, **{name: array[row] for name, array in batch.items()})
    for index, name, _ in reduced:
        predictions[index].reductions[name] = next(arrays)
    return [predictions[i] for i in sorted(predictions)]
