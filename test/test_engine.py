# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Engine parity with a direct transformers computation, on the tiny random model (fp32, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sample_images import random_image
from transformers import Tipsv2DptForDensePrediction, Tipsv2Model, Tipsv2Tokenizer

from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.config import model_input_size
from tips_ros.engine.loading import ModelLoadError
from tips_ros.engine.prediction import HEADS, VIEWS
from tips_ros.tools.bench import HostSyncCounter

RTOL = 1e-5
QUERIES = ["chair", "the floor", "a red box"]


@pytest.fixture(scope="module")
def reference(tiny_models):
    dpt_dir, text_dir = tiny_models
    dpt = Tipsv2DptForDensePrediction.from_pretrained(dpt_dir).eval()
    image_text = Tipsv2Model.from_pretrained(text_dir).eval()
    tokenizer = Tipsv2Tokenizer.from_pretrained(text_dir)
    return dpt, image_text, tokenizer


def reference_outputs(reference, pixels: torch.Tensor,
                      shape: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Compute what a user of transformers gets for the same pixels, upsampled to ``shape``."""
    dpt, image_text, tokenizer = reference
    with torch.no_grad():
        out = dpt(pixels)
        tokens = tokenizer(QUERIES, padding="max_length", max_length=64, truncation=True,
                           return_tensors="pt")
        text = image_text.get_text_features(**tokens).pooler_output
        vision = image_text.vision_model(pixel_values=pixels).last_hidden_state
    up = {"size": shape, "mode": "bilinear", "align_corners": False}
    patches = F.normalize(vision[:, 2:], dim=-1)
    grid = (pixels.shape[2] // 14, pixels.shape[3] // 14)
    cos = torch.einsum("bnd,qd->bqn", patches, F.normalize(text, dim=-1))
    cos = cos.reshape(-1, len(QUERIES), *grid)
    return {
        "depth": F.interpolate(out.predicted_depth[:, None], **up)[:, 0],
        # published normals are outward (the negative of the released head's output),
        # upsampled as the authors do: normalise, bicubic, normalise
        "normals": F.normalize(F.interpolate(-F.normalize(out.normals, dim=1), size=shape,
                                             mode="bicubic", align_corners=False),
                               dim=1).permute(0, 2, 3, 1),
        "class_ids": F.interpolate(out.segmentation_logits, **up).argmax(dim=1),
        "heatmaps": F.interpolate(cos, **up).permute(0, 2, 3, 1),
    }


def assert_close(actual: np.ndarray, expected: torch.Tensor, rtol: float = RTOL) -> None:
    expected_np = expected.numpy()
    scale = np.abs(expected_np).max()
    np.testing.assert_allclose(actual, expected_np, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize(
    ("height", "width", "keep_aspect"),
    [(448, 448, False), (480, 640, False), pytest.param(480, 640, True, marks=pytest.mark.slow),
     (300, 200, True)],
)
def test_parity_with_transformers(tiny_models, reference, height, width, keep_aspect):
    dpt_dir, text_dir = tiny_models
    engine = Engine(EngineConfig(model=str(dpt_dir), text_model=str(text_dir), device="cpu",
                                 precision="fp32", keep_aspect=keep_aspect))
    engine.set_queries(QUERIES)
    image = random_image(height, width, seed=height + width)
    size = model_input_size(height, width, 448, keep_aspect)
    pixels = engine.preprocess([image], size)
    ref = reference_outputs(reference, pixels, (height, width))
    (pred,) = engine.infer([image])

    assert pred.depth.shape == (height, width) and pred.depth.dtype == np.float32
    assert_close(pred.depth, ref["depth"][0])
    assert_close(pred.normals, ref["normals"][0])
    agree = (pred.class_ids == ref["class_ids"][0].numpy()).mean()
    assert agree > 0.999, f"class ids agree on {agree:.4%} of pixels"
    assert pred.heatmaps.shape == (height, width, len(QUERIES))
    assert_close(pred.heatmaps, ref["heatmaps"][0])
    assert pred.queries == tuple(QUERIES)


def test_aspect_sizes():
    assert model_input_size(480, 640, 448, True) == (448, 602)
    assert model_input_size(640, 480, 448, True) == (602, 448)
    assert model_input_size(480, 640, 448, False) == (448, 448)


def test_preprocess_matches_pil_bilinear(tiny_engine):
    image = random_image(480, 640, seed=1)
    ours = tiny_engine.preprocess([image], (448, 448))[0].permute(1, 2, 0).numpy()
    pil = Image.fromarray(image).resize((448, 448), Image.BILINEAR)
    pil = np.asarray(pil, dtype=np.float32) / 255
    assert np.abs(ours - pil).max() <= 1.5 / 255


#: Original sizes of one batch: all share the 448x448 model input, three different sizes.
MIXED_SIZES = [(240, 320), (96, 128), (240, 320), (131, 77), (96, 128)]
#: Every output of the node's four heads, with their colour views.
NODE_OUTPUTS = set(HEADS) | {view for view, head in VIEWS.items() if head in HEADS}


def test_batch_equals_single_calls(tiny_engine):
    """Check batched infer of mixed original sizes against infer one image at a time.

    The backbone sees a batch of 5 or of 1: float summation order differs, hence 1e-5; labels
    may flip on ties.
    """
    tiny_engine.set_queries(QUERIES)
    images = [random_image(h, w, seed=s) for s, (h, w) in enumerate(MIXED_SIZES)]
    batch = tiny_engine.infer(images, NODE_OUTPUTS)
    for image, batched in zip(images, batch):
        (single,) = tiny_engine.infer([image], NODE_OUTPUTS)
        for name in ("depth", "normals", "heatmaps"):
            assert getattr(batched, name).shape[:2] == image.shape[:2]
            np.testing.assert_allclose(getattr(batched, name), getattr(single, name),
                                       rtol=1e-5, atol=1e-5)
        assert (batched.class_ids == single.class_ids).mean() > 0.999
        for view in ("normals_color", "segmentation_color", "heatmaps_color"):
            differ = np.abs(getattr(batched, view).astype(int) - getattr(single, view)).max(-1)
            assert (differ <= 1).mean() > 0.999, view  # a 1e-5 change may cross a rounding step


def test_batch_postprocessing_equals_per_image_postprocessing(tiny_engine):
    """Post-process the same raw head outputs as one batch or one image at a time.

    One batch of mixed original sizes or one image at a time: bit-identical outputs, every
    field and view.
    """
    tiny_engine.set_queries(QUERIES)
    images = [random_image(h, w, seed=10 + s) for s, (h, w) in enumerate(MIXED_SIZES)]
    heads = NODE_OUTPUTS | {"features", "features_pca", "embedding", "zeroshot", "zeroshot_color"}
    with torch.inference_mode():
        uploaded = tiny_engine.upload(images)
        raw = tiny_engine.raw_heads(tiny_engine.resize(uploaded, (448, 448)), (32, 32), heads)
        batch = tiny_engine.download(tiny_engine.postprocess(raw, uploaded, heads), QUERIES)
        for i, batched in enumerate(batch):
            one = {name: tensor[i:i + 1] for name, tensor in raw.items()}
            outputs = tiny_engine.postprocess(one, uploaded[i:i + 1], heads)
            (single,) = tiny_engine.download(outputs, QUERIES)
            for name, value in vars(single).items():
                if isinstance(value, np.ndarray):
                    np.testing.assert_array_equal(getattr(batched, name), value, err_msg=name)
                else:
                    assert getattr(batched, name) == value
            assert batched.class_ids.shape == batched.zeroshot.shape == MIXED_SIZES[i]


def test_one_host_sync_per_infer_call(tiny_models):
    """Check that every output reaches the host at one synchronisation per call.

    However many images, sizes and model input groups (two here: keep_aspect puts 4:3 and 3:4
    frames apart), and no tensor call on the way waits for the device (.cpu(), .item(),
    boolean masks, ...). Steady
    state: a new query set's first zeroshot frame runs the text tower once (its mask check
    waits), then the prompt embeddings are cached.
    """
    dpt, text = tiny_models
    engine = Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                                 precision="fp32", input_size=112, keep_aspect=True))
    engine.set_queries(QUERIES)
    with HostSyncCounter() as check:  # the counter itself sees the calls it looks for
        torch.ones(3).sum().item()
        torch.arange(4)[torch.arange(4) > 1].cpu()
    assert check.calls == ["item", "__getitem__", "cpu"]
    sizes = [(48, 64), (64, 48), (96, 128)]
    images = [random_image(h, w, seed=s) for s, (h, w) in enumerate(sizes)]
    features = {"features_pca", "embedding", "zeroshot_color"}
    for heads in (NODE_OUTPUTS, {"depth"}, NODE_OUTPUTS | features):
        engine.infer(images[:1], heads)  # the first zeroshot frame encodes its prompts (cached)
        for batch in (images[:1], images):
            before = engine.stats.host_syncs
            with HostSyncCounter() as counter:
                predictions = engine.infer(batch, heads)
            assert counter.calls == []
            assert engine.stats.host_syncs == before + 1
            assert [p.depth.shape for p in predictions] == [i.shape[:2] for i in batch]


def test_warmup_without_queries(tiny_models):
    """No queries set: heatmaps have zero channels, zero-shot ids are all 'none'."""
    dpt, text = tiny_models
    engine = Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                                 input_size=56))
    engine.warmup([(40, 60)])
    assert engine.stats.frames == 0  # warm-up frames are not counted
    (pred,) = engine.infer([random_image(40, 60, seed=8)], NODE_OUTPUTS | {"zeroshot_color"})
    assert pred.heatmaps.shape == (40, 60, 0) and pred.queries == ()
    np.testing.assert_array_equal(pred.heatmaps_color, random_image(40, 60, seed=8))
    assert (pred.zeroshot == 255).all()


def test_one_backbone_pass_for_all_heads(tiny_engine):
    tiny_engine.set_queries(QUERIES)
    before = tiny_engine.stats.backbone_calls
    heads_before = dict(tiny_engine.stats.head_calls)
    tiny_engine.infer([random_image(120, 160, seed=s) for s in range(2)])
    assert tiny_engine.stats.backbone_calls == before + 1
    assert all(tiny_engine.stats.head_calls[h] == heads_before[h] + 1 for h in HEADS)


def test_unrequested_heads_do_not_run(tiny_engine):
    before = dict(tiny_engine.stats.head_calls)
    (pred,) = tiny_engine.infer([random_image(64, 64, seed=3)], heads=["depth"])
    after = tiny_engine.stats.head_calls
    assert after["depth"] == before["depth"] + 1
    assert [after[h] - before[h] for h in ("normals", "segmentation", "heatmaps")] == [0, 0, 0]
    assert pred.normals is None and pred.class_ids is None and pred.heatmaps is None
    lo, hi = tiny_engine.depth_range
    assert np.isfinite(pred.depth).all() and pred.depth.min() >= lo and pred.depth.max() <= hi


def test_backbone_is_the_pipelines_pass(tiny_engine, reference):
    """Check Engine.backbone: what raw_heads runs, and the vision model's tokens.

    ``run_heads(backbone(pixels))`` equals ``raw_heads(pixels)``; each of the four maps is
    ``(B, 1 + R + patches, D)``, the last one the image-text model's ``last_hidden_state``
    (same random vision weights); one backbone call is counted per pass.
    """
    tiny_engine.set_queries(QUERIES)
    image = random_image(96, 128, seed=7)
    with torch.inference_mode():
        pixels = tiny_engine.preprocess([image], (448, 448))
        before = tiny_engine.stats.backbone_calls
        maps = tiny_engine.backbone(pixels)
        assert tiny_engine.stats.backbone_calls == before + 1
        staged = tiny_engine.run_heads(maps, (32, 32), set(HEADS))
        whole = tiny_engine.raw_heads(pixels, (32, 32), set(HEADS))
        vision = reference[1].vision_model(pixel_values=pixels).last_hidden_state
    tokens = 1 + tiny_engine.num_registers + 32 * 32
    assert len(maps) == 4
    assert all(m.shape == (1, tokens, tiny_engine.spec.hidden_size) for m in maps)
    torch.testing.assert_close(maps[-1], vision, rtol=RTOL, atol=1e-5)
    assert sorted(staged) == sorted(whole) == sorted(HEADS)
    for name in HEADS:
        torch.testing.assert_close(staged[name], whole[name], rtol=1e-6, atol=1e-6)


def test_text_embeddings_cached(tiny_engine):
    tiny_engine.set_queries(["a mug", "a plant"])
    calls = tiny_engine.text.encode_calls
    tiny_engine.set_queries(["a mug", "a plant"])
    tiny_engine.infer([random_image(64, 64, seed=4)])
    assert tiny_engine.text.encode_calls == calls
    tiny_engine.set_queries(["a mug", "a lamp"])
    assert tiny_engine.text.encode_calls == calls + 1


def test_prompt_templates_average_normalised_embeddings(tiny_engine):
    templates = ["a photo of a {}.", "there is a {} in the scene."]
    ensemble = tiny_engine.text.encode(["chair"], templates)[0]
    parts = torch.stack([tiny_engine.text.encode([t.format("chair")])[0] for t in templates])
    parts = F.normalize(parts, dim=-1)
    torch.testing.assert_close(ensemble, F.normalize(parts.mean(0), dim=0), rtol=1e-5, atol=1e-6)


def test_softmax_heatmaps_sum_to_one(tiny_models):
    dpt, text = tiny_models
    engine = Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                                 heatmap_mode="softmax"))
    engine.set_queries(QUERIES)
    (pred,) = engine.infer([random_image(56, 56, seed=5)], heads=["heatmaps"])
    np.testing.assert_allclose(pred.heatmaps.sum(axis=-1), 1.0, rtol=1e-4)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("/nonexistent/tips/dpt", "does not exist"),
        ("./relative/missing", "does not exist"),
        ("google/tipsv2-b14-dpt", "make-test-model"),
    ],
)
def test_missing_model_is_one_clear_sentence(tiny_models, model, expected):
    with pytest.raises(ModelLoadError) as info:
        Engine(EngineConfig(model=model, text_model=str(tiny_models[1]), device="cpu"))
    message = str(info.value)
    assert expected in message and model in message and "\n" not in message


def test_cuda_requested_without_cuda_fails_clearly(tiny_models):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")  # CI and dev machines have none
    with pytest.raises(ModelLoadError, match="is a CPU-only build; install a CUDA build"):
        Engine(EngineConfig(model=str(tiny_models[0]), text_model=str(tiny_models[1]),
                            device="cuda"))


def test_colour_views_match_their_heads(tiny_engine):
    from tips_ros.engine import colors

    tiny_engine.set_queries(QUERIES)
    image = random_image(96, 128, seed=6)
    (pred,) = tiny_engine.infer(
        [image], heads=["normals_color", "segmentation_color", "heatmaps_color"])
    assert pred.normals is not None and pred.class_ids is not None and pred.heatmaps is not None
    assert pred.depth is None
    for view in (pred.normals_color, pred.segmentation_color, pred.heatmaps_color):
        assert view.shape == (96, 128, 3) and view.dtype == np.uint8
    expected = colors.colorize_normals(torch.from_numpy(pred.normals)[None])[0].numpy()
    np.testing.assert_array_equal(pred.normals_color, expected)
    palette = colors.ade20k_palette().numpy()
    np.testing.assert_array_equal(pred.segmentation_color, palette[pred.class_ids])
    heatmaps = torch.from_numpy(pred.heatmaps).permute(2, 0, 1)[None]  # default query palette
    overlay = colors.overlay_heatmaps(torch.from_numpy(image)[None], heatmaps)[0].numpy()
    np.testing.assert_array_equal(pred.heatmaps_color, overlay)


def test_injected_oom_is_the_real_torch_error(tiny_models, monkeypatch):
    monkeypatch.setenv("TIPS_ROS_FAULTS", "oom@2")
    dpt, text = tiny_models
    engine = Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu"))
    image = random_image(56, 56, seed=7)
    engine.infer([image], heads=["depth"])
    with pytest.raises(torch.OutOfMemoryError):
        engine.infer([image], heads=["depth"])
    (pred,) = engine.infer([image], heads=["depth"])
    assert pred.depth.shape == (56, 56)


def test_chunked_argmax_equals_full_upsample_argmax():
    from tips_ros.engine.postprocess import upsample, upsampled_argmax

    logits = torch.randn(2, 150, 17, 23, generator=torch.Generator().manual_seed(0)) * 3
    upsampled = upsample(logits, (61, 83))
    full, probability = upsampled.argmax(dim=1), upsampled.softmax(dim=1).amax(dim=1)
    for chunk in (16, 7, 150):
        ids, chunked = upsampled_argmax(logits, (61, 83), chunk=chunk, probability=True)
        assert torch.equal(ids, full)
        # running log-sum-exp over chunks vs one fp32 softmax: a few float32 rounding steps
        torch.testing.assert_close(chunked, probability, rtol=2e-6, atol=1e-7)
    assert upsampled_argmax(logits, (61, 83))[1] is None  # not asked: not computed


def test_confidence_view_is_the_masks_winning_probability(tiny_engine):
    """segmentation_confidence: mono8 = round(max softmax * 255), same size as the mask."""
    from tips_ros.engine.postprocess import upsample

    image = random_image(60, 76, seed=9)
    (pred,) = tiny_engine.infer([image], heads=["segmentation_confidence"])
    assert pred.confidence.shape == pred.class_ids.shape == (60, 76)
    assert pred.confidence.dtype == np.uint8 and pred.depth is None
    size = (tiny_engine.config.input_size,) * 2
    pixels = tiny_engine.preprocess([image], size)
    grid = (size[0] // tiny_engine.patch_size,) * 2
    logits = tiny_engine.raw_heads(pixels, grid, ["segmentation"])["segmentation"].float()
    expected = upsample(logits, (60, 76)).softmax(dim=1).amax(dim=1)[0].detach() * 255
    assert np.abs(pred.confidence - expected.numpy()).max() <= 0.5 + 1e-3
    # the max of K probabilities
    assert (pred.confidence >= 255 // len(tiny_engine.class_names)).all()
