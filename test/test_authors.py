# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros convert`` and the engine against the TIPS authors' own files and outputs.

``../shared/fixtures/authors-tiny`` (README there) holds a tiny random model in the authors'
released file formats and the outputs of the authors' PyTorch code for it. Nothing in it was
made by this project, so these tests check the converter's key tables and layouts (fused qkv
order, conv kernel axes, transposed-conv flips, head names) and the engine's interpretation of
every head against the authors, not against the project's own ``export_*`` writers.

Tolerances (fp32 on the CPU): arrays agree to ``REL_TOL`` relative to the reference's largest
magnitude (the fixture's README measured <= 2e-6); labels agree on at least ``LABEL_AGREEMENT``
of the pixels; token ids exactly.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import shared_path
from transformers import Tipsv2DptForDensePrediction, Tipsv2Model, Tipsv2Tokenizer

from tips_ros.tools import convert as C
from tips_ros.cli import main as cli_main
from tips_ros.engine import Engine, EngineConfig

REL_TOL = 1e-5
LABEL_AGREEMENT = 0.999
INPUTS = ("sq", "wide")  # 224x224 and 224x294: both interpolate the 32x32 position grid
TASK_FILES = {task: f"tips_v2_tiny_{task}_dpt.zip"
              for task in ("depth", "normals", "segmentation")}


@pytest.fixture(scope="module")
def authors() -> Path:
    """Return the fixture folder (fails under CI if absent, skips in a clone without it)."""
    return shared_path("fixtures", "authors-tiny")


@pytest.fixture(scope="module")
def reference(authors: Path) -> dict[str, np.ndarray]:
    with np.load(authors / "reference_outputs.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def queries(authors: Path) -> list[str]:
    return json.loads((authors / "queries.json").read_text())


def _convert_args(authors: Path, out: Path, dpt: list[Path] | None = None) -> list[str]:
    dpt = dpt if dpt is not None else [authors / name for name in TASK_FILES.values()]
    return ["convert", "--vision", str(authors / "tips_v2_oss_tiny_vision.npz"),
            "--text", str(authors / "tips_v2_oss_tiny_text.npz"),
            "--tokenizer", str(authors / "tokenizer.model"),
            "--dpt", *map(str, dpt), "--variant", "tiny", "--output", str(out)]


@pytest.fixture(scope="module")
def converted(authors: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Convert the fixture with the command line, as a user would (``OUT/dpt``, ``OUT/text``)."""
    out = tmp_path_factory.mktemp("authors-tiny")
    assert cli_main(_convert_args(authors, out)) == 0
    return out


@pytest.fixture(scope="module")
def engine(converted: Path) -> Engine:
    """fp32 CPU engine at the fixture's input sizes: 224 short side, aspect kept (no resize)."""
    return Engine(EngineConfig(model=str(converted / "dpt"), text_model=str(converted / "text"),
                               device="cpu", precision="fp32", input_size=224, keep_aspect=True))


def assert_close(got: np.ndarray | torch.Tensor, want: np.ndarray, what: str) -> None:
    """``max |got - want| <= REL_TOL * max |want|``."""
    got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    error = float(np.abs(got.astype(np.float64) - want).max() / np.abs(want).max())
    assert error <= REL_TOL, f"{what}: relative error {error:.2e} > {REL_TOL}"


def assert_labels(got: np.ndarray | torch.Tensor, want: np.ndarray, what: str) -> None:
    got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else got
    agreement = float((got == want).mean())
    assert agreement >= LABEL_AGREEMENT, f"{what}: labels agree on {agreement:.4%} of pixels"


def _pixels(reference: dict[str, np.ndarray], name: str) -> torch.Tensor:
    """Return what the authors' model saw: the uint8 image / 255, (1, 3, H, W), no resize."""
    image = reference[f"{name}_image_rgb_uint8"]
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


# --------------------------------------------------------------------------- transformers
@pytest.mark.parametrize("name", INPUTS)
def test_converted_vision_tower_reproduces_the_authors_tokens(
    converted: Path, reference: dict[str, np.ndarray], name: str
) -> None:
    vision = Tipsv2Model.from_pretrained(converted / "text").vision_model.eval()
    backbone = Tipsv2DptForDensePrediction.from_pretrained(converted / "dpt").backbone.eval()
    with torch.no_grad():
        tokens = vision(_pixels(reference, name)).last_hidden_state[0]
        last_map = backbone(_pixels(reference, name)).feature_maps[-1][0]
    for got in (tokens, last_map):  # the DPT's last feature map is the vision model's output
        assert_close(got[0], reference[f"{name}_cls_token"], f"{name} CLS")
        assert_close(got[1], reference[f"{name}_register_token"], f"{name} register")
        assert_close(got[2:], reference[f"{name}_patch_tokens"], f"{name} patch tokens")


@pytest.mark.parametrize("name", INPUTS)
def test_converted_dpt_heads_reproduce_the_authors_outputs(
    converted: Path, reference: dict[str, np.ndarray], name: str
) -> None:
    model = Tipsv2DptForDensePrediction.from_pretrained(converted / "dpt").eval()
    assert model.config.depth_decoder_activation == C.IDENTITY_ACTIVATION
    _check_dpt_outputs(model, reference, name)


def _check_dpt_outputs(model: Tipsv2DptForDensePrediction, reference: dict[str, np.ndarray],
                       name: str) -> None:
    with torch.no_grad():
        out = model(_pixels(reference, name))
    assert_close(out.predicted_depth.reshape(reference[f"{name}_depth_head"].shape),
                 reference[f"{name}_depth_head"], f"{name} depth")
    assert_close(out.normals[0], reference[f"{name}_normals_head_raw"], f"{name} raw normals")
    logits = out.segmentation_logits[0]
    assert_close(logits[:16], reference[f"{name}_segmentation_logits_head_first16"],
                 f"{name} logits")
    assert_labels(logits.argmax(0), reference[f"{name}_segmentation_labels_head"], name)


def test_converted_tokenizer_and_text_tower_reproduce_the_authors(
    converted: Path, reference: dict[str, np.ndarray], queries: list[str]
) -> None:
    tokenizer = Tipsv2Tokenizer.from_pretrained(converted / "text")
    tokens = tokenizer(queries, padding="max_length", truncation=True, max_length=C.MAX_TOKENS,
                       return_tensors="pt")
    np.testing.assert_array_equal(tokens["input_ids"].numpy(), reference["query_token_ids"])
    text = Tipsv2Model.from_pretrained(converted / "text").text_model.eval()
    with torch.no_grad():
        pooled = text(**tokens).pooler_output
    assert_close(pooled, reference["query_text_embeddings"], "text embeddings")


# --------------------------------------------------------------------------- engine
@pytest.mark.parametrize("name", INPUTS)
def test_engine_heads_at_head_resolution(
    engine: Engine, reference: dict[str, np.ndarray], name: str
) -> None:
    """Check the engine's own preprocessing and head interpretation.

    Normals are published outward, the negative of the released head's output (see
    ../shared/evidence).
    """
    image = reference[f"{name}_image_rgb_uint8"]
    size = image.shape[:2]
    grid = (size[0] // engine.patch_size, size[1] // engine.patch_size)
    with torch.inference_mode():
        pixels = engine.preprocess([image], size)
        torch.testing.assert_close(pixels, _pixels(reference, name), rtol=0, atol=0)
        raw = engine.raw_heads(pixels, grid, {"depth", "normals", "segmentation"})
    assert_close(raw["depth"][0], reference[f"{name}_depth_head"], f"{name} depth")
    want = F.normalize(-torch.from_numpy(reference[f"{name}_normals_head_raw"]), dim=0)
    assert_close(raw["normals"][0], want.numpy(), f"{name} outward unit normals")
    logits = raw["segmentation"][0]
    assert_close(logits[:16], reference[f"{name}_segmentation_logits_head_first16"],
                 f"{name} logits")
    assert_labels(logits.argmax(0), reference[f"{name}_segmentation_labels_head"], name)


@pytest.mark.parametrize("name", INPUTS)
def test_engine_outputs_at_image_resolution(
    engine: Engine, reference: dict[str, np.ndarray], queries: list[str], name: str
) -> None:
    """Check ``Engine.infer``'s tokens, embeddings, depth, normals and heatmaps.

    Against the authors' head outputs, upsampled as documented (bilinear; normals: normalise,
    bicubic, normalise).
    """
    image = reference[f"{name}_image_rgb_uint8"]
    engine.set_queries(queries)
    (pred,) = engine.infer([image], ["depth", "normals", "heatmaps", "features", "embedding"])
    size = image.shape[:2]
    patches = reference[f"{name}_patch_tokens"]
    assert_close(pred.features.reshape(patches.shape), patches, f"{name} features")
    cls_reg = np.stack([reference[f"{name}_cls_token"], reference[f"{name}_register_token"]])
    assert_close(pred.embedding, cls_reg / np.linalg.norm(cls_reg, axis=1, keepdims=True),
                 f"{name} embedding")

    def up(array: np.ndarray, mode: str = "bilinear") -> torch.Tensor:
        return F.interpolate(torch.from_numpy(array)[None], size=size, mode=mode,
                             align_corners=False)[0]

    assert_close(pred.depth, up(reference[f"{name}_depth_head"][None])[0].numpy(),
                 f"{name} depth")
    outward = F.normalize(-torch.from_numpy(reference[f"{name}_normals_head_raw"]), dim=0)
    normals = F.normalize(up(outward.numpy(), "bicubic"), dim=0).permute(1, 2, 0)
    assert_close(pred.normals, normals.numpy(), f"{name} normals")
    text = torch.from_numpy(reference["query_text_embeddings"])
    cosine = F.normalize(torch.from_numpy(patches), dim=1) @ F.normalize(text, dim=1).T
    cosine = cosine.T.reshape(len(queries), size[0] // 14, size[1] // 14)
    assert_close(pred.heatmaps, up(cosine.numpy()).permute(1, 2, 0).numpy(), f"{name} heatmaps")


def test_engine_tokenizes_and_encodes_queries_as_the_authors(
    engine: Engine, reference: dict[str, np.ndarray], queries: list[str]
) -> None:
    ids = engine.text.tokenizer(queries, padding="max_length", truncation=True,
                                max_length=C.MAX_TOKENS)["input_ids"]
    np.testing.assert_array_equal(np.array(ids), reference["query_token_ids"])
    want = reference["query_text_embeddings"]
    assert_close(engine.text.encode(queries), want / np.linalg.norm(want, axis=1, keepdims=True),
                 "unit text embeddings")


# --------------------------------------------------------------------------- DPT layouts
# Scenic/Flax -> the authors' PyTorch ``Decoder`` state dict, written here from the documented
# conventions (their loader's docstrings: Conv HWIO -> OIHW; Dense (in, out) -> (out, in);
# ConvTranspose (H, W, in, out), no kernel flip in Flax -> (in, out, H, W) flipped 180 degrees;
# fusion block 0 holds only its main unit, blocks 1-3 the residual unit first), independently
# of tips_ros.tools.convert's tables.
FLAX_TO_TORCH: list[tuple[str, str, str]] = [  # (Scenic pattern, PyTorch name, kernel kind)
    (r"dpt/reassemble_blocks/out_projection_(\d)", r"dpt.reassemble.out_projections.\1", "conv"),
    (r"dpt/reassemble_blocks/readout_projects_(\d)", r"dpt.reassemble.readout_projects.\1",
     "dense"),
    (r"dpt/reassemble_blocks/resize_layers_([01])", r"dpt.reassemble.resize_layers.\1", "convT"),
    (r"dpt/reassemble_blocks/resize_layers_3", "dpt.reassemble.resize_layers.3", "conv"),
    (r"dpt/convs_(\d)", r"dpt.convs.\1", "conv"),
    (r"dpt/fusion_blocks_0/PreActResidualConvUnit_0/conv(\d)",
     r"dpt.fusion_blocks.0.main_unit.conv\1", "conv"),
    (r"dpt/fusion_blocks_(\d)/PreActResidualConvUnit_0/conv(\d)",
     r"dpt.fusion_blocks.\1.residual_unit.conv\2", "conv"),
    (r"dpt/fusion_blocks_(\d)/PreActResidualConvUnit_1/conv(\d)",
     r"dpt.fusion_blocks.\1.main_unit.conv\2", "conv"),
    (r"dpt/fusion_blocks_(\d)/Conv_0", r"dpt.fusion_blocks.\1.out_conv", "conv"),
    (r"dpt/project", "dpt.project", "conv"),
    (r"pixel_\w+", "head", "dense"),
]
KERNEL_TO_TORCH: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "conv": lambda k: k.transpose(3, 2, 0, 1),
    "dense": lambda k: k.T,
    "convT": lambda k: k[::-1, ::-1].transpose(2, 3, 0, 1),
}
LEGACY_HEADS = {"depth": "pixel_depth_classif", "normals": "pixel_normals",
                "segmentation": "segmentation_head"}


def _leaves(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        return {n[: -len(".npy")]: np.load(io.BytesIO(zf.read(n))) for n in zf.namelist()}


def _write_zip(path: Path, leaves: dict[str, np.ndarray]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in leaves.items():
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(array))
            zf.writestr(f"{name}.npy", buf.getvalue())
    return path


def _torch_state_dict(leaves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scenic leaves (``decoder/...``) -> the authors' PyTorch ``Decoder`` state dict."""
    state = {}
    for name, array in leaves.items():
        layer, leaf = name.removeprefix("decoder/").rsplit("/", 1)
        pattern, target, kind = next(row for row in FLAX_TO_TORCH if re.fullmatch(row[0], layer))
        torch_name = re.sub(f"^{pattern}$", target, layer)
        if leaf == "kernel":
            state[f"{torch_name}.weight"] = KERNEL_TO_TORCH[kind](array)
        else:
            state[f"{torch_name}.bias"] = array
    return state


def _no_prefix(task: str, leaves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k.removeprefix("decoder/"): v for k, v in leaves.items()}


def _rename_head(old: str, new: str) -> Callable[[str, dict], dict]:
    return lambda task, leaves: {k.replace(f"decoder/{old}/", f"decoder/{new}/"): v
                                 for k, v in leaves.items()}


def _legacy_flat(task: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {(k.removeprefix("dpt.") if k.startswith("dpt.")
             else k.replace("head.", f"{LEGACY_HEADS[task]}.")): v for k, v in state.items()}


#: layout name -> (file suffix, how to make it from the Scenic leaves of one task)
LAYOUTS: dict[str, tuple[str, Callable[[str, dict], dict]]] = {
    "scenic without decoder/ prefix": (".zip", _no_prefix),
    "scenic pixel_depth_regress (one output per bin)":
        (".zip", _rename_head("pixel_depth_classif", "pixel_depth_regress")),
    "scenic segmentation_head": (".zip", _rename_head("pixel_segmentation", "segmentation_head")),
    "pytorch dpt.* + head.*": (".npz", lambda task, leaves: _torch_state_dict(leaves)),
    "pytorch legacy flat": (".npz", lambda task, leaves: _legacy_flat(task,
                                                                      _torch_state_dict(leaves))),
}


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_authors_dpt_layout_converts_to_the_reference(
    layout: str, authors: Path, reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    suffix, make = LAYOUTS[layout]
    files = []
    for task, name in TASK_FILES.items():
        leaves = make(task, _leaves(authors / name))
        stem = f"tips_v2_tiny_{task}_dpt" + ("_pytorch" if suffix == ".npz" else "")
        path = tmp_path / f"{stem}{suffix}"
        if suffix == ".npz":
            np.savez(path, **leaves)
        else:
            _write_zip(path, leaves)
        files.append(path)
    result = C.convert(authors / "tips_v2_oss_tiny_vision.npz", tmp_path / "out", dpt=files,
                       variant="tiny")
    model = Tipsv2DptForDensePrediction.from_pretrained(result.dpt_dir).eval()
    _check_dpt_outputs(model, reference, "wide")


def _cli_error(args: list[str]) -> tuple[int, str]:
    """Run ``tips-ros`` in its own process: (exit code, stderr)."""
    done = subprocess.run([sys.executable, "-m", "tips_ros.cli", *args], capture_output=True,
                          text=True, timeout=600)
    return done.returncode, done.stderr


@pytest.mark.slow
def test_one_channel_depth_regression_head_is_one_sentence(authors: Path, tmp_path: Path) -> None:
    leaves = _rename_head("pixel_depth_classif", "pixel_depth_regress")(
        "depth", _leaves(authors / TASK_FILES["depth"]))
    head = "decoder/pixel_depth_regress"
    leaves[f"{head}/kernel"] = leaves[f"{head}/kernel"][:, :1]
    leaves[f"{head}/bias"] = leaves[f"{head}/bias"][:1]
    regress = _write_zip(tmp_path / "regress_depth.zip", leaves)
    dpt = [regress, authors / TASK_FILES["normals"], authors / TASK_FILES["segmentation"]]
    code, err = _cli_error(_convert_args(authors, tmp_path / "out", dpt))
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "one-channel depth regression head" in err and "pixel_depth_classif" in err, err
    assert not (tmp_path / "out" / "dpt").exists() and not (tmp_path / "out" / "text").exists()


@pytest.mark.slow
@pytest.mark.parametrize("junk", ["random bytes", "zip of unrelated arrays"])
def test_junk_dpt_file_is_one_sentence_naming_what_was_expected(
    junk: str, authors: Path, tmp_path: Path
) -> None:
    path = tmp_path / "junk_dpt.zip"
    if junk == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        _write_zip(path, {"weights/w0": np.zeros(3), "bias": np.ones(2)})
    dpt = [path, authors / TASK_FILES["normals"], authors / TASK_FILES["segmentation"]]
    code, err = _cli_error(_convert_args(authors, tmp_path / "out", dpt))
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "is not a DPT checkpoint" in err and "Scenic zip" in err and "PyTorch .npz" in err, err
    assert not (tmp_path / "out" / "dpt").exists()
