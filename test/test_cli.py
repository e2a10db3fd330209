"""The ``tips-ros`` console script, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from transformers import Tipsv2DptForDensePrediction, Tipsv2Model, Tipsv2Tokenizer


def tips_ros(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tips_ros.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_make_test_model_loads_with_from_pretrained(tmp_path: Path):
    result = tips_ros("make-test-model", str(tmp_path / "m"), "--size", "tiny")
    assert result.returncode == 0, result.stderr
    dpt = Tipsv2DptForDensePrediction.from_pretrained(tmp_path / "m" / "dpt")
    model = Tipsv2Model.from_pretrained(tmp_path / "m" / "text")
    tokenizer = Tipsv2Tokenizer.from_pretrained(tmp_path / "m" / "text")
    assert dpt.config.num_labels == 150
    assert (tmp_path / "m" / "dpt" / "model.safetensors").exists()
    assert model.config.vision_config.hidden_size == dpt.config.backbone_config.hidden_size
    ids = tokenizer(["A Chair", "crème brûlée"])["input_ids"]
    assert all(len(seq) > 0 for seq in ids)


def test_synth_bag_refuses_to_overwrite(tmp_path: Path):
    out = tmp_path / "bag"
    first = tips_ros("synth-bag", str(out), "--frames", "2", "--size", "64x48")
    assert first.returncode == 0, first.stderr
    second = tips_ros("synth-bag", str(out), "--frames", "2", "--size", "64x48")
    assert second.returncode != 0
    assert second.stderr.strip().count("\n") == 0 and "exists" in second.stderr
