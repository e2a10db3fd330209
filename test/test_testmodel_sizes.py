# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Every TIPS size offered by ``make-test-model --size``: shapes checked on the meta device."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    Tipsv2DptForDensePrediction,
    Tipsv2TextConfig,
    Tipsv2TextModel,
    Tipsv2VisionConfig,
    Tipsv2VisionModel,
)

from tips_ros.engine.testmodel import SIZES, dpt_indices


def _millions(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def _build(size: str) -> tuple[Tipsv2VisionModel, Tipsv2TextModel, Tipsv2DptForDensePrediction]:
    shape = SIZES[size]
    with torch.device("meta"):  # no memory, no init cost
        return (
            Tipsv2VisionModel(Tipsv2VisionConfig(**shape.vision_config())),
            Tipsv2TextModel(Tipsv2TextConfig(**shape.text_config())),
            Tipsv2DptForDensePrediction(shape.dpt_config()),
        )


def test_every_official_size_is_offered() -> None:
    assert {"tiny", "b14", "l14", "so14", "g14", "v1-s14", "v1-b14", "v1-l14", "v1-so14",
            "v1-g14"} <= set(SIZES)


@pytest.mark.parametrize(
    ("layers", "blocks"),
    [(12, (3, 6, 9, 12)), (24, (6, 12, 18, 24)), (27, (7, 14, 21, 27)), (40, (10, 20, 30, 40))],
)
def test_dpt_blocks_follow_the_authors_configs(layers: int, blocks: tuple[int, ...]) -> None:
    assert dpt_indices(layers) == blocks


# Published / well-known parameter counts (millions). TIPS B/14: 85.7M vision (16x16 position
# grid; the v2 32x32 grid adds 768 * 768 = 0.59M), 109.6M text. Other towers are the DINOv2 /
# SigLIP ViTs they are built on: S 21.6M-ish, L ~304M, So400m ~413M, g ~1.1B.
PUBLISHED = {
    "v1-b14": (85.7, 109.6),
    "b14": (85.7 + 0.59, 109.6),
    "v1-s14": (21.6, None),
    "l14": (304.0, None),
    "so14": (413.0, None),
    "g14": (1136.0, None),
}


@pytest.mark.parametrize("size", sorted(PUBLISHED))
def test_parameter_counts_match_published_numbers(size: str) -> None:
    vision, text, _ = _build(size)
    want_vision, want_text = PUBLISHED[size]
    assert _millions(vision) == pytest.approx(want_vision, rel=0.005)
    if want_text is not None:
        assert _millions(text) == pytest.approx(want_text, rel=0.005)


@pytest.mark.parametrize("size", [s for s in SIZES if s != "tiny"])
def test_official_shapes(size: str) -> None:
    shape = SIZES[size]
    vision, text, dpt = _build(size)
    grid = 16 if size.startswith("v1-") else 32
    assert vision.embeddings.position_embeddings.shape == (1, grid * grid + 1, shape.hidden_size)
    assert vision.embeddings.register_tokens.shape == (1, 1, shape.hidden_size)
    layer = vision.encoder.layer[0]
    if size.endswith("g14"):  # SwiGLU FFN: 2/3 of 4 * 1536, rounded to a multiple of 8
        assert layer.mlp.gate_proj.weight.shape == (4096, 1536)
    else:
        assert layer.mlp.fc1.weight.shape[0] == text.encoder.layers[0].mlp.fc1.weight.shape[0]
    assert dpt.config.backbone_config.out_indices == list(shape.dpt_indices)
    assert dpt.config.backbone_config.out_indices[-1] == shape.vision_layers
    width = shape.hidden_size
    assert list(dpt.config.neck_hidden_sizes) == [width // 8, width // 4, width // 2, width]
    assert dpt.segmentation_decoder.head.out_features == 150
    assert dpt.depth_decoder.head.out_features == 256


def test_so400m_ffn_width_survives_the_float_ratio() -> None:
    vision, _, _ = _build("so14")
    assert vision.encoder.layer[0].mlp.fc1.weight.shape == (4304, 1152)
