# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros demo`` as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tips_ros.offline.preview import RANDOM_WEIGHTS_NOTE

#: generous: the demo runs a whole replay on a loaded 2-core machine
TIMEOUT_S = 900


def demo(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "tips_ros.cli", "demo", *args],
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=environment)


def red_note_pixels(path: Path) -> int:
    """Pixels of the red note above the grid (the top 6 % of the picture)."""
    with Image.open(path) as picture:
        rgb = np.asarray(picture.convert("RGB")).astype(int)
    top = rgb[: max(1, rgb.shape[0] * 6 // 100)]
    return int(((top[..., 0] > 180) & (top[..., 1] < 80) & (top[..., 2] < 80)).sum())


@pytest.mark.slow
def test_demo_on_tiny_model_writes_report_and_preview(tiny_models, tmp_path: Path):
    dpt, text = tiny_models
    result = demo("--model", str(dpt), "--text-model", str(text), "--out", str(tmp_path / "d"),
                  "--frames", "2", "--size", "96x64", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert report["frames_out"] == 2 and set(report["metrics"]) == {"depth", "normals",
                                                                    "segmentation"}
    assert report["queries"] == ["floor", "wall", "a box", "a ball"]
    assert report["weights"] == "random"  # make-test-model weights are marked as such
    with Image.open(tmp_path / "d" / "preview.png") as picture:
        assert picture.width > picture.height > 0
    assert str(tmp_path / "d" / "preview.png") in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("hub", ["offline", "unreachable"])
def test_demo_without_the_hub_runs_on_random_weights_and_says_so(tmp_path: Path, hub: str):
    """Run the README's first command on a machine without hub access.

    The default (hub) models cannot be had, so the demo writes random TIPSv2 weights itself
    and exits 0.
    """
    # unreachable: online mode, but the hub endpoint is a closed local port
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"} if hub == "unreachable" \
        else {}
    out = tmp_path / "demo"
    result = demo("--out", str(out), "--frames", "2", **env)
    assert result.returncode == 0, result.stderr
    warning = result.stderr.splitlines()[0]
    assert warning.startswith("tips-ros demo: model 'google/tipsv2-b14-dpt' ")
    assert "running on random weights of the TIPSv2 architecture" in warning
    assert warning.endswith(RANDOM_WEIGHTS_NOTE)
    assert "Traceback" not in result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["weights"] == "random" and report["frames_out"] == 2
    assert report["model"] == str(out / "random_model" / "dpt")
    assert report["text_model"] == str(out / "random_model" / "text")
    assert set(report["metrics"]) == {"depth", "normals", "segmentation"}
    assert (out / "preview.png").is_file() and red_note_pixels(out / "preview.png") > 200
    assert result.stdout.rstrip().endswith(RANDOM_WEIGHTS_NOTE)


def test_preview_note_is_drawn_only_when_asked(tiny_engine, tmp_path: Path):
    from tips_ros.offline.preview import render_preview

    rgb = np.full((64, 96, 3), 128, np.uint8)
    rows = [(rgb, tiny_engine.infer([rgb])[0])]
    plain = render_preview(rows, tiny_engine.class_names, tmp_path / "plain.png")
    noted = render_preview(rows, tiny_engine.class_names, tmp_path / "noted.png",
                           note=RANDOM_WEIGHTS_NOTE)
    assert red_note_pixels(plain) == 0 and red_note_pixels(noted) > 100


@pytest.mark.slow
def test_demo_with_a_missing_model_directory_says_so_in_one_sentence(tmp_path: Path):
    result = demo("--model", str(tmp_path / "missing"), "--out", str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "does not exist" in result.stderr and "make-test-model" in result.stderr
    assert "running on random weights" not in result.stderr
