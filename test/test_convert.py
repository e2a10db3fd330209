# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros convert``: round trips through the project's own writers, and its errors.

A known random Hugging Face model is written in the authors' layouts (``export_*``, the same key
tables read backwards), converted back, and must give identical outputs. That is circular for
the tables themselves (a swapped q/k/v or conv axis would pass here): it checks that every size's
structure (heads, FFN type and ratio, position grid, DPT wiring) converts, at a reduced width and
depth so the whole file runs in seconds on a CPU, and B/14 at its real width. The tables are
checked against the authors' own files and outputs in ``test_authors.py``.
"""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
import torch
from transformers import Tipsv2Config, Tipsv2DptForDensePrediction, Tipsv2Model

from tips_ros.cli import main as cli_main
from tips_ros.engine import testmodel
from tips_ros.engine.testmodel import ModelShape, SIZES
from tips_ros.errors import UsageError
from tips_ros.tools import convert as C
from tips_ros.tools.convert.tables import to_ours

ROUND_TRIP_SIZES = ["s14", "b14", "l14", "so14", "g14"]


def _small(size: str) -> ModelShape:
    """``size``'s structure at width heads * 8, 4 vision blocks, 1 text block."""
    name = size if size in SIZES else f"v1-{size}"
    real = SIZES[name]
    width = real.vision_heads * 8
    ratio = real.mlp_ratio if real.use_swiglu_ffn else real.text_intermediate / real.hidden_size
    return replace(
        real, hidden_size=width, vision_layers=4, text_layers=1, mlp_ratio=ratio,
        text_intermediate=int(width * ratio), dpt_indices=(1, 2, 3, 4),
        neck_hidden_sizes=(width // 8, width // 4, width // 2, width), fusion_hidden_size=16,
        num_depth_bins=32, vocab_size=400,
    )


def _models(shape: ModelShape, seed: int = 0) -> tuple[Tipsv2Model, Tipsv2DptForDensePrediction]:
    torch.manual_seed(seed)
    image_text = Tipsv2Model(
        Tipsv2Config(vision_config=shape.vision_config(), text_config=shape.text_config())
    ).eval()
    with torch.no_grad():  # non-trivial layer scales, norms and tokens
        for name, param in image_text.named_parameters():
            if "lambda1" in name or "norm" in name or "tokens" in name or "cls_token" in name:
                param.add_(torch.randn_like(param) * 0.1)
    dpt = Tipsv2DptForDensePrediction(shape.dpt_config()).eval()
    dpt.backbone.load_state_dict(image_text.vision_model.state_dict())
    dpt.depth_decoder.activation = torch.nn.Identity()  # the authors' heads: no activation there
    return image_text, dpt


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train a small SentencePiece BPE model with byte fallback, trained here (pad 0, unk 1)."""
    out = tmp_path_factory.mktemp("spm")
    words = ("a photo of the {} in a room, with chairs and tables. café naïve straße "
             "übergrößen façade 東京 日本語 ελληνικά русский ½ ﬁne").split()
    corpus = [" ".join(words[i:] + words[:i]).format("cat") for i in range(len(words))] * 20
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_prefix=str(out / "tokenizer"), vocab_size=400,
        model_type="bpe", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, byte_fallback=True,
        character_coverage=1.0, minloglevel=2,
    )
    return out / "tokenizer.model"


def _export(image_text: Tipsv2Model, dpt: Tipsv2DptForDensePrediction, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    return {
        "vision": C.export_vision(image_text.vision_model, out / "tips_vision.npz"),
        "text": C.export_text(image_text.text_model, out / "tips_text.npz"),
        "dpt": C.export_dpt(dpt, out),
    }


@pytest.mark.parametrize(
    ("version", "size"),
    # S/14 was released for TIPSv1 only; the smallest shape of each version is in the fast lane
    [pytest.param("v1", size, marks=() if size == "s14" else pytest.mark.slow)
     for size in ROUND_TRIP_SIZES]
    + [pytest.param("v2", size, marks=() if size == "b14" else pytest.mark.slow)
       for size in ROUND_TRIP_SIZES if size != "s14"],
)
def test_round_trip_gives_identical_outputs(
    size: str, version: str, sp_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shape = _small(size)
    if version == "v1":
        shape = replace(shape, pos_grid=16)
    monkeypatch.setitem(testmodel.SIZES, f"test-{size}", shape)  # heads of the reduced width
    image_text, dpt = _models(shape)
    files = _export(image_text, dpt, tmp_path / "authors")

    result = C.convert(files["vision"], tmp_path / "out", text=files["text"],
                       tokenizer=sp_model, dpt=files["dpt"])
    assert result.shape.pos_grid == (16 if version == "v1" else 32)
    assert result.shape.use_swiglu_ffn == (size == "g14")
    text2 = Tipsv2Model.from_pretrained(result.text_dir).eval()
    dpt2 = Tipsv2DptForDensePrediction.from_pretrained(result.dpt_dir).eval()
    assert dpt2.config.depth_decoder_activation == C.IDENTITY_ACTIVATION
    assert text2.config.vision_config.num_attention_heads == shape.vision_heads

    pixels = torch.rand(2, 3, 70, 98)  # non-square, not the grid size: interpolated positions
    ids = torch.randint(2, 300, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    ids[1, 7:] = 0
    with torch.no_grad():
        for ref, got in [
            (image_text.vision_model(pixels).last_hidden_state,
             text2.vision_model(pixels).last_hidden_state),
            (image_text.text_model(ids, attention_mask=mask).pooler_output,
             text2.text_model(ids, attention_mask=mask).pooler_output),
            *zip(dpt(pixels).to_tuple()[:3], dpt2(pixels).to_tuple()[:3]),
        ]:
            torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)


def test_b14_at_real_width_round_trips(sp_model: Path, tmp_path: Path) -> None:
    shape = replace(SIZES["b14"], vision_layers=2, text_layers=1, vocab_size=400)
    torch.manual_seed(1)
    model = Tipsv2Model(Tipsv2Config(vision_config=shape.vision_config(),
                                     text_config=shape.text_config())).eval()
    vision = C.export_vision(model.vision_model, tmp_path / "v.npz")
    text = C.export_text(model.text_model, tmp_path / "t.npz")
    result = C.convert(vision, tmp_path / "out", text=text, tokenizer=sp_model)
    assert result.dpt_dir is None and result.shape.vision_heads == 12
    model2 = Tipsv2Model.from_pretrained(result.text_dir).eval()
    pixels, ids = torch.rand(1, 3, 56, 56), torch.randint(2, 300, (2, 8))
    with torch.no_grad():
        torch.testing.assert_close(model2(input_ids=ids, pixel_values=pixels).text_embeds,
                                   model(input_ids=ids, pixel_values=pixels).text_embeds,
                                   rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(model2.vision_model(pixels).last_hidden_state,
                                   model.vision_model(pixels).last_hidden_state,
                                   rtol=1e-6, atol=1e-6)


def test_authors_key_names_and_layouts(tmp_path: Path) -> None:
    """The written files use the documented names; a fused qkv is q, k, v stacked."""
    image_text, dpt = _models(SIZES["tiny"])
    files = _export(image_text, dpt, tmp_path)
    vision = np.load(files["vision"])
    assert {"cls_token", "pos_embed", "register_tokens", "patch_embed.proj.weight",
            "blocks.0.attn.qkv.weight", "blocks.0.ls1.gamma", "blocks.3.mlp.fc2.bias",
            "norm.weight"} <= set(vision.files)
    q = image_text.vision_model.encoder.layer[0].attention.q_proj.weight.detach().numpy()
    np.testing.assert_array_equal(vision["blocks.0.attn.qkv.weight"][: q.shape[0]], q)
    text = np.load(files["text"])
    assert {"temperature", "token_embedding.weight", "transformer.resblocks.0.attn.in_proj_weight",
            "transformer.resblocks.0.mlp.c_fc.weight", "ln_final.bias"} <= set(text.files)
    with zipfile.ZipFile(files["dpt"][0]) as zf:
        names = set(zf.namelist())
    assert "decoder/dpt/reassemble_blocks/resize_layers_0/kernel.npy" in names
    assert "decoder/dpt/fusion_blocks_1/PreActResidualConvUnit_1/conv2/kernel.npy" in names
    assert "decoder/pixel_depth_classif/kernel.npy" in names


def test_flax_transposed_conv_semantics_match_the_converted_kernel() -> None:
    """The converted transposed-conv kernel computes what Flax's ConvTranspose computes.

    Flax ConvTranspose (no kernel flip, stride 4, padding 3 on the dilated input) computed
    directly in numpy equals torch's ConvTranspose2d with the converted (flipped) kernel.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 5))  # H, W, C_in
    kernel = rng.standard_normal((4, 4, 5, 6))  # H, W, C_in, C_out (Flax layout)
    dilated = np.zeros((3 * 4 - 3, 2 * 4 - 3, 5))
    dilated[::4, ::4] = x
    padded = np.pad(dilated, ((3, 3), (3, 3), (0, 0)))
    flax = np.zeros((12, 8, 6))
    for i in range(12):
        for j in range(8):
            flax[i, j] = np.einsum("hwc,hwco->o", padded[i:i + 4, j:j + 4], kernel)
    weight = torch.from_numpy(np.ascontiguousarray(to_ours(kernel, "convT")))
    torch_out = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x.transpose(2, 0, 1))[None], weight, stride=4
    )[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(torch_out, flax, rtol=1e-10, atol=1e-10)


PROMPTS = [
    "A Photo of a CAT.", "there's a chair, a table & two lamps!", "Café NAÏVE Straße",
    "東京の日本語 text", "Ελληνικά και русский", "½ ﬁne   spaced\tout", "UNSEEN-words: qz7 ✓ 🙂",
    "", "a" * 200, "<pad> and <unk> are plain text in a prompt",
]


def test_tokenizer_matches_sentencepiece(sp_model: Path) -> None:
    tokenizer = C.convert_tokenizer(sp_model)
    reference = spm.SentencePieceProcessor(model_file=str(sp_model))
    for prompt in PROMPTS:
        want = reference.encode(prompt.lower())
        assert tokenizer(prompt, add_special_tokens=False)["input_ids"] == want, prompt
    batch = tokenizer(PROMPTS, padding="max_length", truncation=True, max_length=C.MAX_TOKENS)
    assert all(len(ids) == C.MAX_TOKENS for ids in batch["input_ids"])
    assert batch["input_ids"][0][-1] == 0  # pad id 0


def test_converted_directories_drive_the_engine(sp_model: Path, tmp_path: Path) -> None:
    from tips_ros.engine import Engine, EngineConfig

    image_text, dpt = _models(SIZES["tiny"])
    files = _export(image_text, dpt, tmp_path / "authors")
    code = cli_main(["convert", "--vision", str(files["vision"]), "--text", str(files["text"]),
                     "--tokenizer", str(sp_model), "--dpt", *map(str, files["dpt"]),
                     "--output", str(tmp_path / "out")])
    assert code == 0
    engine = Engine(EngineConfig(model=str(tmp_path / "out/dpt"),
                                 text_model=str(tmp_path / "out/text"),
                                 device="cpu", precision="fp32", input_size=112))
    engine.set_queries(["a chair", "Café"])
    frame = (np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8)
    (pred,) = engine.infer([frame])
    assert pred.depth.shape == (60, 80) and np.isfinite(pred.depth).all()
    assert pred.heatmaps.shape == (60, 80, 2) and pred.normals.shape == (60, 80, 3)


def _authors_files(tmp_path: Path) -> dict:
    image_text, dpt = _models(SIZES["tiny"])
    return _export(image_text, dpt, tmp_path / "authors")


def _edit_npz(path: Path, edit) -> None:
    arrays = dict(np.load(path))
    edit(arrays)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda a: a.update(extra_weight=np.zeros(3)), ["unknown keys extra_weight"]),
        (lambda a: a.pop("blocks.1.ls2.gamma"), ["missing keys blocks.1.ls2.gamma"]),
        (lambda a: a.update({"norm.bias": np.zeros(7, np.float32)}),
         ["wrong shapes norm.bias (7,)"]),
    ],
)
def test_bad_vision_files_fail_in_one_sentence_and_write_nothing(
    edit, words: list[str], sp_model: Path, tmp_path: Path
) -> None:
    files = _authors_files(tmp_path)
    _edit_npz(files["vision"], edit)
    with pytest.raises(C.ConversionError) as info:
        C.convert(files["vision"], tmp_path / "out", text=files["text"], tokenizer=sp_model,
                  dpt=files["dpt"])
    message = str(info.value)
    assert all(w in message for w in words) and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_all_problems_are_listed_together(sp_model: Path, tmp_path: Path) -> None:
    files = _authors_files(tmp_path)
    _edit_npz(files["text"], lambda a: (a.pop("ln_final.weight"), a.update(bogus=np.ones(1))))
    with pytest.raises(C.ConversionError,
                       match=r"unknown keys bogus; missing keys ln_final.weight"):
        C.convert(files["vision"], tmp_path / "out", text=files["text"], tokenizer=sp_model)
    assert not (tmp_path / "out").exists()


def test_dpt_zip_errors(tmp_path: Path) -> None:
    files = _authors_files(tmp_path)
    with pytest.raises(UsageError, match="missing: normals"):
        C.convert(files["vision"], tmp_path / "out", dpt=[files["dpt"][0], files["dpt"][2]])
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(files["dpt"][2]) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            if "convs_2" not in name:
                dst.writestr(name, src.read(name))
    with pytest.raises(C.ConversionError, match=r"DPT checkpoint '.*broken.zip' does not have "
                       r"the authors' layout: missing keys decoder/dpt/convs_2/kernel"):
        C.convert(files["vision"], tmp_path / "out", dpt=[*files["dpt"][:2], broken])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"", b"\x08\x96\x01 not a model" * 50])
def test_junk_tokenizer_is_one_sentence(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.model"
    path.write_bytes(content)
    with pytest.raises(C.ConversionError, match="is not a .*SentencePiece model") as info:
        C.convert_tokenizer(path)
    assert "\n" not in str(info.value)


def test_cli_reports_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["convert", "--vision", str(tmp_path / "nope.npz"), "--dpt", "x.zip",
                     "--output", str(tmp_path / "out")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
