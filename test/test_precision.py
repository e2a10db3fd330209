# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Reduced precision, channels-last and torch.compile against the fp32 eager engine.

On the tiny model, on the CPU. Tolerances are the issue's: depth median relative error
<= 1%, normals median angle <= 2 degrees, segmentation-logit and heatmap correlation >= 0.99.
Layout changes must agree far more tightly.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from tips_ros.tools.bench import agreement, raw_outputs
from tips_ros.tools.camera_sim import make_frames
from tips_ros.engine import Engine, EngineConfig

INPUT_SIZE = 112
QUERIES = ("person", "chair", "table")


def _engine(models, **options) -> Engine:
    dpt, text = models
    engine = Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                                 input_size=INPUT_SIZE, **{"precision": "fp32", **options}))
    engine.set_queries(QUERIES)
    return engine


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return make_frames(2, 96, 128, seed=3)


@pytest.fixture(scope="module")
def reference(tiny_models, frames) -> dict[str, np.ndarray]:
    return raw_outputs(_engine(tiny_models), frames)


def assert_within_issue_tolerances(result: dict[str, float]) -> None:
    assert result["depth_median_rel_error"] <= 0.01, result
    assert result["normals_median_angle_deg"] <= 2.0, result
    assert result["segmentation_logit_corr"] >= 0.99, result
    assert result["heatmap_corr"] >= 0.99, result


def test_bf16_matches_fp32(tiny_models, frames, reference):
    engine = _engine(tiny_models, precision="bf16")
    assert engine.dtype == torch.bfloat16
    assert_within_issue_tolerances(agreement(reference, raw_outputs(engine, frames)))


def test_fp16_matches_fp32(tiny_models, frames, reference):
    engine = _engine(tiny_models, precision="fp16")
    try:
        outputs = raw_outputs(engine, frames)
    except (RuntimeError, NotImplementedError) as err:  # CPU kernels without a Half version
        pytest.skip(f"fp16 not supported by this CPU build of torch: {err}")
    assert_within_issue_tolerances(agreement(reference, outputs))


def test_agreement_detects_a_wrong_output(reference):
    """The metrics can fail: a shifted depth, rotated normals, shuffled logits do not pass."""
    rng = np.random.default_rng(0)
    wrong = {
        "depth": reference["depth"] * 1.05,
        "normals": reference["normals"][:, [1, 2, 0]],
        "segmentation": rng.permutation(reference["segmentation"].ravel()).reshape(
            reference["segmentation"].shape),
        "heatmaps": -reference["heatmaps"],
    }
    result = agreement(reference, wrong)
    assert result["depth_median_rel_error"] == pytest.approx(0.05, rel=1e-3)
    assert result["normals_median_angle_deg"] > 2.0
    assert result["segmentation_logit_corr"] < 0.5
    assert result["heatmap_corr"] == pytest.approx(-1.0)


def test_channels_last_matches_plain(tiny_models, frames, reference):
    result = agreement(reference, raw_outputs(_engine(tiny_models, channels_last=True), frames))
    assert result["depth_median_rel_error"] <= 1e-5, result
    assert result["normals_median_angle_deg"] <= 0.01, result
    assert result["segmentation_logit_corr"] >= 1 - 1e-6, result
    assert result["heatmap_corr"] >= 1 - 1e-6, result


@pytest.mark.slow
def test_compile_default_matches_eager(tiny_models, frames, reference):
    engine = _engine(tiny_models, compile="default")
    result = agreement(reference, raw_outputs(engine, frames))
    assert result["depth_median_rel_error"] <= 1e-4, result
    assert result["normals_median_angle_deg"] <= 0.05, result
    assert result["segmentation_logit_corr"] >= 1 - 1e-5, result
    assert result["heatmap_corr"] >= 1 - 1e-5, result


@pytest.mark.slow
def test_compiled_batches_are_padded_to_warmed_sizes_and_never_recompile(tiny_models):
    """3 frames run as 4 (repeating the last), warmed up with 1, 2, 4: no compile mid-stream.

    The ``eager`` backend checks Dynamo's tracing and guards without generating code. The
    outputs match the eager engine's; passing the recompile limit would raise, not fall back.
    """
    from torch._dynamo.utils import counters

    from tips_ros.engine.acceleration import batch_sizes

    frames = make_frames(3, 48, 64, seed=5)
    engine = _engine(tiny_models, compile="default", compile_backend="eager")
    for batch in batch_sizes(len(frames)):
        engine.warmup([(48, 64)], batch=batch)
    compiled = counters["frames"]["total"]
    for count in (3, 1, 2, 3):
        engine.infer(frames[:count])
    assert counters["frames"]["total"] == compiled, "a batch size compiled mid-stream"
    assert not counters["graph_break"]
    assert torch._dynamo.config.fail_on_recompile_limit_hit
    result = agreement(raw_outputs(_engine(tiny_models), frames), raw_outputs(engine, frames))
    assert result["depth_median_rel_error"] <= 1e-5 and result["heatmap_corr"] >= 1 - 1e-6
