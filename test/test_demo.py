"""``tips-ros demo`` as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image


def demo(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "tips_ros.cli", "demo", *args],
                          capture_output=True, text=True, timeout=180, env=env)


def test_demo_on_tiny_model_writes_report_and_preview(tiny_models, tmp_path: Path):
    dpt, text = tiny_models
    result = demo("--model", str(dpt), "--text-model", str(text), "--out", str(tmp_path / "d"),
                  "--frames", "2", "--size", "96x64", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert report["frames_out"] == 2 and set(report["metrics"]) == {"depth", "normals",
                                                                    "segmentation"}
    assert report["queries"] == ["floor", "wall", "a box", "a ball"]
    with Image.open(tmp_path / "d" / "preview.png") as picture:
        assert picture.width > picture.height > 0
    assert str(tmp_path / "d" / "preview.png") in result.stdout


def test_demo_without_models_says_how_in_one_sentence():
    result = demo()
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "make-test-model" in result.stderr and "--model /tmp/tips/dpt" in result.stderr
