# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The ``tips-ros`` console script, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from transformers import Tipsv2DptForDensePrediction, Tipsv2Model, Tipsv2Tokenizer

from tips_ros import cli

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow


def tips_ros(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tips_ros.cli", *args], capture_output=True, text=True, timeout=300
    )


def imported_modules(*args: str) -> set[str]:
    """Top-level names of every module ``python -X importtime ARGS`` imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert lines, "no -X importtime output"
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines}


@pytest.mark.parametrize("args", [
    ("-c", "import tips_ros.io.outputs, sys; assert 'torch' not in sys.modules"),
    ("-c", "import tips_ros.engine.prediction, tips_ros.errors, tips_ros.engine.parameters"),
    ("-m", "tips_ros.cli", "--help"),
    ("-m", "tips_ros.cli", "synth-bag", "--help"),
    ("-m", "tips_ros.cli", "replay", "--help"),
    ("-m", "tips_ros.cli", "demo", "--help"),
], ids=["outputs", "types-errors-parameters", "help", "synth-bag-help", "replay-help",
        "demo-help"])
def test_light_imports_load_neither_torch_nor_transformers(args: tuple[str, ...]):
    heavy = imported_modules(*args) & {"torch", "transformers", "rclpy"}
    assert not heavy, f"{' '.join(args)} imported {sorted(heavy)}"


def test_help_lists_every_command():
    result = tips_ros("--help")
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in cli.COMMANDS)
    bad = tips_ros("no-such-command")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


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
