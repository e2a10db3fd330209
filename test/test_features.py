# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Dense features, PCA view, global embeddings and zero-shot segmentation (tiny model, fp32, CPU).

References are computed independently with transformers' ``Tipsv2Model`` (the image-text
model, whose vision tower has the same random weights as the DPT backbone in the tiny test
models) on the same pixels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sample_images import random_image
from transformers import Tipsv2Model, Tipsv2Tokenizer

from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.config import model_input_size
from tips_ros.engine.features import NO_QUERY, PcaProjector, value_output_projections
from tips_ros.engine.prediction import ALL_HEADS, FEATURE_HEADS, VIEWS, ZEROSHOT_TEMPLATES
from tips_ros.io.outputs import encode_prediction, heads_for, TOPICS, zeroshot_labels_json

QUERIES = ["chair", "the floor", "a red box", "sky"]
FEATURE_VIEWS = [v for v, h in VIEWS.items() if h in FEATURE_HEADS]

#: features/pca stability figures (levels of 0..255, per channel), see test_pca_* below
PCA_SAME_SCENE_MEAN = 1.0  # same scene + sensor noise, consecutive frames: mean |diff| below this
PCA_SAME_SCENE_P99 = 3.0  # ... and 99th percentile of |diff| below this
PCA_NEW_SCENE_MEAN = 20.0  # a different scene: mean |diff| from the previous frame above this


@pytest.fixture(scope="module")
def engine(tiny_models):
    """Load a private Engine: these tests change its threshold and PCA state."""
    dpt, text = tiny_models
    engine = Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                                 precision="fp32"))
    engine.set_queries(QUERIES)
    return engine


@pytest.fixture(scope="module")
def reference(tiny_models):
    _, text_dir = tiny_models
    return Tipsv2Model.from_pretrained(text_dir).eval(), Tipsv2Tokenizer.from_pretrained(text_dir)


def pixels_for(engine: Engine, image: np.ndarray) -> torch.Tensor:
    return engine.preprocess([image], model_input_size(*image.shape[:2], 448, False))


def reference_value_attention(model: Tipsv2Model, pixels: torch.Tensor) -> torch.Tensor:
    """Compute (N, D) value-attention patch tokens from the weights (not the engine's code).

    The last block with the attention output replaced by o_proj(v_proj(norm1(x))), residual,
    layer scale and MLP kept, then the final layer norm.
    """
    vision = model.vision_model
    with torch.no_grad():
        hidden = vision(pixel_values=pixels, output_hidden_states=True).hidden_states
        x = hidden[-2][0, 2:]  # input of the last block, patch tokens (1 CLS + 1 register)
        block = vision.encoder.layer[-1]
        eps = vision.config.layer_norm_eps
        h = F.layer_norm(x, x.shape[-1:], block.norm1.weight, block.norm1.bias, eps)
        v_proj, o_proj = value_output_projections(block.attention)
        v = F.linear(h, v_proj.weight, v_proj.bias)
        mlp = block.mlp
        y = x + block.layer_scale1.lambda1 * F.linear(v, o_proj.weight, o_proj.bias)
        h = F.layer_norm(y, y.shape[-1:], block.norm2.weight, block.norm2.bias, eps)
        h = F.gelu(F.linear(h, mlp.fc1.weight, mlp.fc1.bias))
        h = F.linear(h, mlp.fc2.weight, mlp.fc2.bias)
        y = y + block.layer_scale2.lambda1 * h
        return F.layer_norm(y, y.shape[-1:], vision.layernorm.weight, vision.layernorm.bias, eps)


def reference_text(model: Tipsv2Model, tokenizer, templates) -> torch.Tensor:
    """(Q, D) prompt-ensembled query embeddings: mean of unit template embeddings, renormalised."""
    rows = []
    with torch.no_grad():
        for query in QUERIES:
            texts = [t.format(query) for t in templates]
            tokens = tokenizer(texts, padding="max_length", max_length=64, truncation=True,
                               return_tensors="pt")
            pooled = F.normalize(model.get_text_features(**tokens).pooler_output, dim=-1)
            rows.append(F.normalize(pooled.mean(dim=0), dim=-1))
    return torch.stack(rows)


@pytest.mark.parametrize(("height", "width"), [(448, 448), (120, 160)])
def test_features_and_embedding_equal_the_vision_model(engine, reference, height, width):
    model, _ = reference
    image = random_image(height, width, seed=height)
    pixels = pixels_for(engine, image)
    with torch.no_grad():
        last = model.vision_model(pixel_values=pixels).last_hidden_state[0]
    (pred,) = engine.infer([image], heads=["features", "embedding"])
    grid = (pixels.shape[2] // 14, pixels.shape[3] // 14)
    expected = last[2:].reshape(*grid, -1).numpy()
    assert pred.features.shape == expected.shape and pred.features.dtype == np.float32
    np.testing.assert_allclose(pred.features, expected, rtol=1e-5,
                               atol=1e-5 * np.abs(expected).max())
    embedding = F.normalize(last[:2], dim=-1).numpy()  # CLS, then the register (second CLS)
    assert pred.embedding.shape == (2, last.shape[-1])
    np.testing.assert_allclose(pred.embedding, embedding, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(pred.embedding, axis=1), 1.0, atol=1e-5)


def test_zeroshot_equals_value_attention_reference(engine, reference):
    model, tokenizer = reference
    image = random_image(240, 320, seed=11)
    pixels = pixels_for(engine, image)
    grid = (pixels.shape[2] // 14, pixels.shape[3] // 14)
    tokens = F.normalize(reference_value_attention(model, pixels), dim=-1)
    text = reference_text(model, tokenizer, ZEROSHOT_TEMPLATES)
    scores = (tokens @ text.T).T.reshape(1, len(QUERIES), *grid)
    scores = F.interpolate(scores, size=image.shape[:2], mode="bilinear", align_corners=False)[0]
    best, ids = scores.max(dim=0)
    threshold = float(best.median())  # about half the pixels become "none"
    expected = torch.where(best < threshold, NO_QUERY, ids).numpy().astype(np.uint8)

    engine.config.zeroshot_threshold = threshold
    try:
        (pred,) = engine.infer([image], heads=["zeroshot", "zeroshot_color"])
    finally:
        engine.config.zeroshot_threshold = 0.0
    assert pred.zeroshot.shape == image.shape[:2] and pred.zeroshot.dtype == np.uint8
    top2 = scores.topk(2, dim=0).values
    clear = ((top2[0] - top2[1]) > 2e-5) & ((best - threshold).abs() > 2e-5)  # not a fp32 near tie
    assert clear.float().mean() > 0.95
    assert (pred.zeroshot == expected)[clear.numpy()].all()
    assert 0.3 < (pred.zeroshot == NO_QUERY).mean() < 0.7
    assert pred.queries == tuple(QUERIES)
    # colour view: query colour half over the image, unlabelled pixels dimmed to half
    none = pred.zeroshot == NO_QUERY
    np.testing.assert_allclose(pred.zeroshot_color[none], np.round(image[none] * 0.5), atol=1)

    # the value-attention variant is not the ordinary last-layer token (the test means something)
    with torch.no_grad():
        plain = model.vision_model(pixel_values=pixels).last_hidden_state[0, 2:]
        plain = F.normalize(plain, dim=-1)
    assert (plain - tokens).abs().max() > 1e-2


def test_zeroshot_threshold_above_every_score_gives_none(engine):
    engine.config.zeroshot_threshold = 1.0
    try:
        (pred,) = engine.infer([random_image(56, 56, seed=2)], heads=["zeroshot"])
    finally:
        engine.config.zeroshot_threshold = 0.0
    assert (pred.zeroshot == NO_QUERY).all()


def test_one_backbone_pass_with_every_output(engine):
    heads = list(ALL_HEADS) + list(VIEWS)
    before = engine.stats.backbone_calls
    calls = dict(engine.stats.head_calls)
    preds = engine.infer([random_image(120, 160, seed=s) for s in range(2)], heads=heads)
    assert engine.stats.backbone_calls == before + 1
    for head in ALL_HEADS:
        assert engine.stats.head_calls[head] == calls.get(head, 0) + 1, head
    for pred in preds:
        for name in ("depth", "normals", "class_ids", "heatmaps", "features", "features_pca",
                     "embedding", "zeroshot", "zeroshot_color"):
            assert getattr(pred, name) is not None, name


def test_feature_heads_are_not_computed_by_default(engine):
    (pred,) = engine.infer([random_image(56, 56, seed=4)], heads=["depth"])
    assert pred.features is None and pred.embedding is None and pred.zeroshot is None
    (pred,) = engine.infer([random_image(56, 56, seed=4)])  # the default heads
    assert pred.features is None and pred.features_pca is None and pred.zeroshot is None


def noisy(image: np.ndarray, seed: int, sigma: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def pca_frames(engine: Engine, images: list[np.ndarray]) -> list[np.ndarray]:
    engine.pca.reset()
    return [engine.infer([im], heads=["features_pca"])[0].features_pca.astype(np.float32)
            for im in images]


def test_pca_colours_are_stable_for_a_scene_and_distinct_for_a_new_one(engine):
    scene = random_image(240, 320, seed=21)
    other = random_image(240, 320, seed=99)
    frames = pca_frames(engine, [noisy(scene, s) for s in range(8)] + [other])
    for previous, current in zip(frames[:7], frames[1:8]):
        diff = np.abs(current - previous)
        assert diff.mean() < PCA_SAME_SCENE_MEAN, diff.mean()
        assert np.percentile(diff, 99) < PCA_SAME_SCENE_P99, np.percentile(diff, 99)
    assert frames[0].std(axis=(0, 1)).min() > 20  # the first fit spreads the colours
    new = np.abs(frames[8] - frames[7])
    assert new.mean() > PCA_NEW_SCENE_MEAN, new.mean()
    assert frames[8].std(axis=(0, 1)).min() > 10  # the new scene is not washed out


def test_pca_basis_moves_slowly_and_keeps_signs():
    torch.manual_seed(0)
    a = torch.randn(500, 16) * torch.linspace(3, 0.1, 16)
    pca = PcaProjector(momentum=0.05)
    pca.update(a)
    first = pca.basis.clone()
    assert torch.allclose(first.T @ first, torch.eye(3), atol=1e-5)
    pca.update(a[torch.randperm(500)])  # the same distribution: basis unchanged
    assert torch.allclose(pca.basis, first, atol=1e-4)
    b = torch.randn(500, 16) * torch.linspace(0.1, 3, 16)  # principal axes reversed
    pca.update(b)
    assert (pca.basis * first).sum(dim=0).min() > 0.5  # one update turns the basis only a little
    for _ in range(200):
        pca.update(b)
    assert torch.allclose(pca.basis.T @ pca.basis, torch.eye(3), atol=1e-5)
    assert pca.basis[-3:].abs().sum() > 2.5  # eventually it follows the new principal axes
    frozen = PcaProjector(momentum=0.0)
    frozen.update(a)
    frozen.update(b)
    assert torch.allclose(frozen.basis, first, atol=1e-4)


def test_feature_topics_encode_documented_layouts(engine):
    topics = ["features", "features/pca", "embedding", "zeroshot", "zeroshot/color"]
    assert heads_for(topics) == {
        "features", "features_pca", "embedding", "zeroshot", "zeroshot_color"}
    assert set(topics) | {"zeroshot/labels"} <= set(TOPICS)
    (pred,) = engine.infer([random_image(120, 160, seed=5)], heads=heads_for(topics))
    encoded = encode_prediction(pred, topics)
    d = engine.text.hidden_size
    features = encoded["features"]
    assert (features.encoding, features.height, features.width) == (f"32FC{d}", 32, 32)
    assert features.step == 32 * d * 4 and features.is_bigendian == 0
    decoded = np.frombuffer(features.data, "<f4").reshape(features.height, features.width, d)
    np.testing.assert_array_equal(decoded, pred.features)
    embedding = encoded["embedding"]
    assert (embedding.encoding, embedding.height, embedding.width, embedding.step) == (
        "32FC1", 2, d, d * 4)
    zeroshot = encoded["zeroshot"]
    assert zeroshot.encoding == "mono8" and (zeroshot.height, zeroshot.width) == (120, 160)
    assert encoded["features/pca"].encoding == encoded["zeroshot/color"].encoding == "rgb8"
    assert encoded["features/pca"].width == 160
    assert json.loads(zeroshot_labels_json(QUERIES)) == {str(i): q for i, q in enumerate(QUERIES)}


def test_replay_writes_feature_topics_when_asked(engine, tmp_path):
    from rosbags.highlevel import AnyReader

    from tips_ros.offline.bags import SYNTH_TOPICS, write_synth_bag
    from tips_ros.offline.options import ReplayOptions, RunOptions
    from tips_ros.offline.replay import replay

    bag = write_synth_bag(tmp_path / "in", 2, (128, 96))
    run = RunOptions(image_topic=SYNTH_TOPICS["image"], queries=("floor", "a box"),
                     heads=frozenset({"features", "embedding", "zeroshot"}))
    replay(ReplayOptions(bag=bag, output=tmp_path / "out", run=run), engine)
    with AnyReader([tmp_path / "out"]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        conn = next(c for c in reader.connections if c.topic == "/tips/features")
        _, _, raw = next(reader.messages(connections=[conn]))
        features = reader.deserialize(raw, conn.msgtype)
        conn = next(c for c in reader.connections if c.topic == "/tips/zeroshot/labels")
        _, _, raw = next(reader.messages(connections=[conn]))
        labels = reader.deserialize(raw, conn.msgtype)
    assert counts == {"/tips/features": 2, "/tips/features/pca": 2, "/tips/embedding": 2,
                      "/tips/zeroshot": 2, "/tips/zeroshot/color": 2, "/tips/zeroshot/labels": 1}
    assert features.encoding == f"32FC{engine.text.hidden_size}"
    assert (features.height, features.width) == (32, 32)
    assert json.loads(labels.data) == {"0": "floor", "1": "a box"}
