# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""DPT checkpoints broken on purpose, made from ``tips-ros make-test-model`` output.

Each is a copy of the tiny DPT directory with one thing wrong, as a partial download, a
hand-edited file or an old hub snapshot would have it; :data:`BROKEN` pairs each with the
words its one-sentence load error must contain.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

#: Tensor-name prefix of the backbone in the checkpoint files (the model calls it ``backbone``).
BACKBONE = "vision_encoder."


def _weights(edit: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[Path], None]:
    """Return a change of ``DIR/model.safetensors`` by ``edit`` (in place on the tensors)."""
    def change(model_dir: Path) -> None:
        weights = load_file(model_dir / "model.safetensors")
        edit(weights)
        save_file(weights, model_dir / "model.safetensors", metadata={"format": "pt"})
    return change


def _first_backbone(weights: dict[str, torch.Tensor]) -> str:
    return sorted(name for name in weights if name.startswith(BACKBONE))[0]


def _delete_one(weights: dict[str, torch.Tensor]) -> None:
    del weights[_first_backbone(weights)]


def _rename_one(weights: dict[str, torch.Tensor]) -> None:
    name = _first_backbone(weights)
    weights[name.replace(BACKBONE, BACKBONE + "renamed_")] = weights.pop(name)


def _heads_only(weights: dict[str, torch.Tensor]) -> None:
    for name in [name for name in weights if name.startswith(BACKBONE)]:
        del weights[name]


def _reshape_one(weights: dict[str, torch.Tensor]) -> None:
    name = _first_backbone(weights)
    weights[name] = torch.zeros(*(side + 1 for side in weights[name].shape))


def _no_labels(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    del config["id2label"], config["label2id"]
    (model_dir / "config.json").write_text(json.dumps(config))


#: name -> (the change made to a copy of the DPT directory, words of the expected error)
BROKEN: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "tensor_deleted": (_weights(_delete_one), ("1 tensor missing from the checkpoint",
                                               "backbone.")),
    "tensor_renamed": (_weights(_rename_one), ("1 tensor missing", "the model does not have",
                                               "renamed_")),
    "heads_only": (_weights(_heads_only), ("no backbone weights", "head-only")),
    "shape_changed": (_weights(_reshape_one), ("of another shape", "in the model")),
    "no_id2label": (_no_labels, ("no label map", "id2label")),
}


def make_broken(dpt: Path, folder: Path, name: str) -> Path:
    """Write the broken checkpoint ``name`` (a key of :data:`BROKEN`) under ``folder``."""
    out = folder / name
    if not out.exists():
        shutil.copytree(dpt, out)
        BROKEN[name][0](out)
    return out
