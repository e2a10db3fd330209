# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The reference the benchmark compares against: what a user of transformers writes.

Image processor -> ``Tipsv2DptForDensePrediction`` forward -> per-image post-processing as
``Tipsv2DptImageProcessor.post_process_*`` (bilinear upsampling, L2 normalisation, argmax),
plus a second vision pass of ``Tipsv2Model`` for the heatmaps; fp32, eager attention. It
shares no code with the engine beyond model loading.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tips_ros.tools.bench.common import summarize


def naive_processor(input_size: tuple[int, int]) -> Any:
    """Return transformers' PIL image processor with ``Tipsv2DptImageProcessor``'s settings.

    Bilinear resize to ``input_size`` (height, width) pixels, rescale 1/255, no
    normalisation. The torchvision-backed class itself needs torchvision, which this project
    does not depend on.
    """
    from transformers.image_processing_backends import PilBackend
    from transformers.image_utils import PILImageResampling

    class Tipsv2PilProcessor(PilBackend):
        resample = PILImageResampling.BILINEAR
        size = {"height": input_size[0], "width": input_size[1]}
        do_resize, do_rescale, do_normalize, do_convert_rgb = True, True, False, True

    return Tipsv2PilProcessor()


class NaivePipeline:
    """The naive transformers pipeline on one device (fp32, eager attention).

    ``input_size``: the model input (height, width) in pixels; ``text_embeddings``: the
    queries' (Q, D) unit embeddings; ``softmax_temperature``: heatmaps as a softmax across the
    queries at this temperature (cosine units; the node's ``heatmap_mode`` softmax), else
    cosine.
    """

    def __init__(self, model: str, text_model: str, device: torch.device,
                 input_size: tuple[int, int], text_embeddings: torch.Tensor,
                 softmax_temperature: float | None = None) -> None:
        from transformers import Tipsv2DptForDensePrediction, Tipsv2Model

        from tips_ros.engine.loading import load_pretrained

        self.device = device
        self.processor = naive_processor(input_size)
        self.dpt = load_pretrained(Tipsv2DptForDensePrediction, model).to(device).eval()
        self.vision = load_pretrained(Tipsv2Model, text_model).vision_model.to(device).eval()
        self.skip = 1 + self.vision.config.num_register_tokens
        self.patch = self.vision.config.patch_size
        self.text = text_embeddings.float().to(device)
        self.temperature = softmax_temperature

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray]
                 ) -> tuple[dict[str, torch.Tensor], list[dict[str, np.ndarray]]]:
        """Return raw head outputs (as the bench's ``raw_outputs``) and host outputs per image.

        The host outputs are at image size: depth (H, W) metres, normals (3, H, W), labels
        (H, W) class ids, heatmaps (Q, H, W).
        """
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
        pixels = pixels.to(self.device)
        out = self.dpt(pixel_values=pixels)
        tokens = self.vision(pixel_values=pixels).last_hidden_state
        ph, pw = (s // self.patch for s in pixels.shape[-2:])
        patches = F.normalize(tokens[:, self.skip:], dim=-1)
        heat = torch.einsum("bnd,qd->bqn", patches, self.text).reshape(len(images), -1, ph, pw)
        if self.temperature is not None:
            heat = torch.softmax(heat / self.temperature, dim=1)
        # outward normals, as the engine publishes them (the released head predicts their
        # negative; docs/models.md)
        normals = -F.normalize(out.normals, p=2, dim=1)
        raw = {"depth": out.predicted_depth, "normals": normals,
               "segmentation": out.segmentation_logits, "heatmaps": heat}
        host = []
        for i, image in enumerate(images):
            up = {name: F.interpolate(
                      value[i:i + 1] if name != "depth" else value[i][None, None],
                      size=image.shape[:2], mode="bilinear", align_corners=False)[0]
                  for name, value in raw.items()}
            host.append({"depth": up["depth"][0].cpu().numpy(),
                         "normals": up["normals"].cpu().numpy(),
                         "labels": up["segmentation"].argmax(dim=0).cpu().numpy(),
                         "heatmaps": up["heatmaps"].cpu().numpy()})
        return raw, host

    def close(self) -> None:
        """Release the models."""
        del self.dpt, self.vision


def time_naive(naive: NaivePipeline, frames: list[np.ndarray], iters: int,
               warmup: int) -> dict[str, float]:
    """Return p50/p99 ms per frame and frames/s of ``naive`` on batches of ``frames``."""
    for _ in range(warmup):
        naive(frames)
    per_frame, start = [], time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        naive(frames)
        per_frame.append((time.perf_counter() - t0) * 1000.0 / len(frames))
    return {**summarize(per_frame), "fps": iters * len(frames) / (time.perf_counter() - start)}
