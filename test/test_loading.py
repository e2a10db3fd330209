# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Safe loading: safetensors only unless opted in, no code from model directories, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from broken_models import BROKEN, make_broken
from transformers import Tipsv2DptForDensePrediction, Tipsv2Tokenizer

from tips_ros.cli import EXIT_ERROR, main
from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.loading import ModelLoadError, load_pretrained
from tips_ros.offline.bags import SYNTH_TOPICS, write_synth_bag


def add_remote_code(model_dir: Path, marker: Path, config_name: str, auto_map: dict) -> None:
    """Plant a Python module that would write ``marker`` if anything imported it."""
    (model_dir / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('executed')\n"
        "from transformers import PreTrainedModel as EvilModel\n"
        "from transformers import PreTrainedTokenizer as EvilTokenizer\n"
    )
    config_path = model_dir / config_name
    config = json.loads(config_path.read_text())
    config["auto_map"] = auto_map
    config_path.write_text(json.dumps(config))


def test_code_in_model_directories_is_never_executed(tiny_models, tmp_path: Path):
    dpt, text = (shutil.copytree(d, tmp_path / d.name) for d in tiny_models)
    marker = tmp_path / "marker"
    add_remote_code(dpt, marker, "config.json", {"AutoModel": "evil.EvilModel"})
    add_remote_code(text, marker, "tokenizer_config.json",
                    {"AutoTokenizer": ["evil.EvilTokenizer", None]})
    engine = Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu"))
    assert isinstance(engine.backend.module(), Tipsv2DptForDensePrediction)
    assert not marker.exists()


def test_pickle_weights_need_explicit_opt_in(tiny_models, tmp_path: Path):
    dpt = shutil.copytree(tiny_models[0], tmp_path / "dpt")
    model = Tipsv2DptForDensePrediction.from_pretrained(dpt)
    (dpt / "model.safetensors").unlink()
    torch.save(model.state_dict(), dpt / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_pretrained(Tipsv2DptForDensePrediction, str(dpt))
    loaded = load_pretrained(Tipsv2DptForDensePrediction, str(dpt), allow_pickle=True)
    assert torch.equal(loaded.depth_decoder.head.weight, model.depth_decoder.head.weight)


def test_corrupt_and_partial_directories_fail_with_one_sentence(tiny_models, tmp_path: Path):
    corrupt = shutil.copytree(tiny_models[0], tmp_path / "corrupt")
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    no_config = shutil.copytree(tiny_models[0], tmp_path / "no_config")
    (no_config / "config.json").unlink()
    a_file = tmp_path / "weights.safetensors"
    a_file.write_bytes(b"x")
    for ref, words in ((corrupt, "corrupt"), (no_config, "incomplete"), (a_file, "is a file")):
        with pytest.raises(ModelLoadError) as info:
            load_pretrained(Tipsv2DptForDensePrediction, str(ref))
        assert words in str(info.value) and "\n" not in str(info.value)


def test_tokenizer_loads_by_its_own_class(tiny_models):
    tokenizer = load_pretrained(Tipsv2Tokenizer, str(tiny_models[1]))
    assert tokenizer("A Chair")["input_ids"]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_checkpoint_is_one_sentence_in_the_cli(name: str, tiny_models, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture):
    """``tips-ros replay`` with a broken DPT: exit 2, one line naming the model and the fault."""
    broken = make_broken(tiny_models[0], tmp_path, name)
    bag = write_synth_bag(tmp_path / "in", 1, (32, 24))
    code = main(["replay", str(bag), "--output", str(tmp_path / "out"), "--image-topic",
                 SYNTH_TOPICS["image"], "--model", str(broken),
                 "--text-model", str(tiny_models[1]), "--device", "cpu"])
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("tips-ros replay: error"))
    assert code == EXIT_ERROR, err
    assert f"model '{broken}' cannot be used" in line, err
    assert all(words in line for words in BROKEN[name][1]), line
    assert not (tmp_path / "out").exists()  # nothing ran on the broken model
