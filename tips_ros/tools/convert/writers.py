# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Writers of the authors' layouts from Hugging Face models (the key tables read backwards).

For tests and for checking the tables: a known model written here and converted back must
give identical outputs.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from transformers import Tipsv2DptForDensePrediction

from tips_ros.tools.convert.mapping import (
    block_count, dpt_rules, map_to_theirs, text_rules, vision_rules,
)
from tips_ros.tools.convert.tables import DptFile, EXPORT_HEADS


def export_vision(model: torch.nn.Module, path: str | Path) -> Path:
    """Write a vision tower (``Tipsv2VisionModel`` or DPT backbone) as ``*_vision.npz``."""
    state = model.state_dict()
    layers = block_count(state, r"encoder\.layer\.(\d+)\.")
    swiglu = any(".mlp.gate_proj." in k for k in state)
    rules = vision_rules(["blocks.0.mlp.w12."] if swiglu else [], layers)
    np.savez(path, **map_to_theirs(state, rules))
    return Path(path)


def export_text(model: torch.nn.Module, path: str | Path, temperature: float = 0.01) -> Path:
    """Write a ``Tipsv2TextModel`` as the authors' ``*_text.npz`` (with ``temperature``)."""
    state = model.state_dict()
    arrays = map_to_theirs(state, text_rules(block_count(state, r"encoder\.layers\.(\d+)\.")))
    np.savez(path, temperature=np.float32(temperature), **arrays)
    return Path(path)


def export_dpt(model: Tipsv2DptForDensePrediction, out_dir: str | Path,
               stem: str = "tips") -> list[Path]:
    """Write the three heads of ``model`` as Scenic DPT zips ``{stem}_{task}_dpt.zip``.

    Names as in the released zips: ``decoder/dpt/...``, ``decoder/pixel_*``.
    """
    state = model.state_dict()
    paths = []
    for task, head in EXPORT_HEADS.items():
        layout = DptFile(Path(), task, True, "decoder/dpt/", f"decoder/{head}", 0, {})
        path = Path(out_dir) / f"{stem}_{task}_dpt.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for key, array in map_to_theirs(state, dpt_rules(layout)).items():
                buf = io.BytesIO()
                np.save(buf, array)
                zf.writestr(key + ".npy", buf.getvalue())
        paths.append(path)
    return paths
