# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
""":func:`convert`: the authors' files -> ``OUT/text`` and ``OUT/dpt`` (Hugging Face format).

All inputs are read, mapped and shape-checked before anything is written; the directories
are written to a temporary sibling and moved into place at the end.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from transformers import (
    Tipsv2Config,
    Tipsv2DptForDensePrediction,
    Tipsv2Model,
    Tipsv2Tokenizer,
)

from tips_ros.engine.loading import share_files
from tips_ros.engine.testmodel import ModelShape
from tips_ros.errors import ConversionError, UsageError
from tips_ros.tools.convert.mapping import dpt_rules, map_to_ours, text_rules, vision_rules
from tips_ros.tools.convert.readers import infer_shape, read_dpt, read_npz
from tips_ros.tools.convert.tables import DptFile, Rule, TASKS, TEXT_IGNORED
from tips_ros.tools.convert.text_tokenizer import convert_tokenizer

#: identity activation name in ``transformers.activations.ACT2FN``
IDENTITY_ACTIVATION = "linear"


@dataclass(frozen=True)
class Converted:
    """What :func:`convert` wrote: the architecture and the directories (None: not written)."""

    shape: ModelShape
    text_dir: Path | None
    dpt_dir: Path | None


@dataclass(frozen=True)
class _Vision:
    """The vision checkpoint every output needs: its path, arrays and rules."""

    path: str | Path
    arrays: dict[str, np.ndarray]
    rules: list[Rule]

    def state(self, shapes: dict[str, torch.Size], prefix: str) -> dict[str, torch.Tensor]:
        """Return the vision tower's weights under ``prefix`` in the target model."""
        return map_to_ours(self.arrays, self.rules, shapes, f"vision checkpoint '{self.path}'",
                           prefix)


@dataclass
class _Staged:
    """A model ready to be written: config, weights, and weights it may lack."""

    name: str
    model_class: type
    config: Any
    state: dict[str, torch.Tensor]
    ignore_missing: set[str]
    tokenizer: Tipsv2Tokenizer | None = None


def _expected(model: torch.nn.Module) -> dict[str, torch.Size]:
    """Return the parameter shapes of ``model`` (built on the meta device)."""
    return {k: v.shape for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class ConvertOptions:
    """A conversion (``tips-ros convert``): the authors' files -> ``output/text``, ``output/dpt``.

    ``vision`` is the ``*_vision.npz``; ``text`` the ``*_text.npz`` with its SentencePiece
    ``tokenizer`` (both or neither: writes ``output/text``); ``dpt`` the depth, normals and
    segmentation heads (writes ``output/dpt``); ``variant`` a size name of
    :data:`~tips_ros.engine.testmodel.SIZES` (default: inferred from the width; checked with
    the checkpoint's width by ``readers.infer_shape``); ``overwrite`` replaces existing
    outputs. The request is checked when built (``UsageError``, one sentence).
    """

    vision: Path
    output: Path
    text: Path | None = None
    tokenizer: Path | None = None
    dpt: tuple[Path, ...] = ()
    variant: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        """Turn the paths into ``Path`` objects and check the request (``UsageError``)."""
        for name in ("vision", "output", "text", "tokenizer"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else Path(value))
        object.__setattr__(self, "dpt", tuple(Path(path) for path in self.dpt))
        if self.text is None and not self.dpt:
            raise UsageError("nothing to convert: give --text (with --tokenizer) and/or --dpt")
        if (self.text is None) != (self.tokenizer is None):
            raise UsageError("--text and --tokenizer go together (the text model needs its "
                             "tokenizer)")


def _check_targets(options: ConvertOptions) -> None:
    """Reject a request that would replace existing output silently."""
    output = options.output
    targets = ([output / "text"] if options.text is not None else []) + (
        [output / "dpt"] if options.dpt else [])
    existing = [str(t) for t in targets if t.exists()]
    if existing and not options.overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass --overwrite to replace")


def _text_model(vision: _Vision, shape: ModelShape, text: str | Path,
                text_arrays: dict[str, np.ndarray], tokenizer: str | Path) -> _Staged:
    """Map the vision and text towers and convert the tokenizer (``Tipsv2Model``)."""
    with torch.device("meta"):
        probe = Tipsv2Model(Tipsv2Config(vision_config=shape.vision_config(),
                                         text_config=shape.text_config()))
    shapes = _expected(probe)
    state = vision.state(shapes, "vision_model.")
    state.update(map_to_ours(text_arrays, text_rules(shape.text_layers), shapes,
                             f"text checkpoint '{text}'", "text_model.", TEXT_IGNORED))
    tok = convert_tokenizer(tokenizer)
    if len(tok) > shape.vocab_size:
        raise ConversionError(f"tokenizer '{tokenizer}' has {len(tok)} pieces but the text "
                              f"model only {shape.vocab_size} embeddings")
    return _Staged("text", Tipsv2Model, probe.config, state,
                   {"temperature", "vision_model.embeddings.mask_token"}, tok)


def _read_heads(dpt: list[str | Path]) -> dict[str, DptFile]:
    """Read the DPT files; exactly one per task (depth, normals, segmentation)."""
    files: dict[str, DptFile] = {}
    for path in dpt:
        read = read_dpt(path)
        if read.task in files:
            raise UsageError(f"two --dpt files hold the {read.task} head; give one per task")
        files[read.task] = read
    if set(files) != set(TASKS):
        absent = sorted(set(TASKS) - set(files))
        raise UsageError("the DPT model needs the depth, normals and segmentation heads; "
                         f"missing: {', '.join(absent)}")
    return files


def _dpt_model(vision: _Vision, shape: ModelShape, dpt: list[str | Path]) -> _Staged:
    """Map the vision tower and the three heads (``Tipsv2DptForDensePrediction``)."""
    files = _read_heads(dpt)
    config = shape.dpt_config()
    config.depth_decoder_activation = IDENTITY_ACTIVATION
    config.num_depth_bins = files["depth"].outputs
    config.num_labels = files["segmentation"].outputs
    if config.num_labels != len(config.id2label):
        config.id2label = {i: f"class_{i}" for i in range(config.num_labels)}
        config.label2id = {v: k for k, v in config.id2label.items()}
    with torch.device("meta"):
        shapes = _expected(Tipsv2DptForDensePrediction(config))
    state = vision.state(shapes, "backbone.")
    for read in files.values():
        state.update(map_to_ours(read.arrays, dpt_rules(read), shapes,
                                 f"DPT checkpoint '{read.path}'"))
    return _Staged("dpt", Tipsv2DptForDensePrediction, config, state,
                   {"backbone.embeddings.mask_token"})


def _load(model: torch.nn.Module, state: dict[str, torch.Tensor],
          ignore_missing: set[str]) -> None:
    """Load ``state``; the mask token (training only) and temperature may be absent."""
    model.eval()
    for name in ignore_missing - set(state):
        if name.endswith("mask_token"):
            state[name] = torch.zeros_like(model.state_dict()[name])
    result = model.load_state_dict(state, strict=False)
    missing = set(result.missing_keys) - ignore_missing
    if missing or result.unexpected_keys:  # the tables and the model disagree: a bug here
        raise RuntimeError(f"internal mapping error: missing {sorted(missing)}, "
                           f"unexpected {result.unexpected_keys}")


def _write(output: Path, staged: list[_Staged]) -> None:
    """Save the models (and tokenizer) to ``output/<name>`` via a temporary sibling."""
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=output))
    try:
        for item in staged:
            model = item.model_class(item.config)
            _load(model, item.state, item.ignore_missing)
            model.save_pretrained(staging / item.name)
            if item.tokenizer is not None:
                item.tokenizer.save_pretrained(staging / item.name)
        for item in staged:
            if (output / item.name).exists():
                shutil.rmtree(output / item.name)
            (staging / item.name).rename(output / item.name)
            share_files(output / item.name)  # readable by others as the umask allows
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def convert(vision: str | Path, output: str | Path, *,
            text: str | Path | None = ConvertOptions.text,
            tokenizer: str | Path | None = ConvertOptions.tokenizer,
            dpt: Iterable[str | Path] = ConvertOptions.dpt,
            variant: str | None = ConvertOptions.variant,
            overwrite: bool = ConvertOptions.overwrite) -> Converted:
    """Convert the authors' files into ``output/text`` and/or ``output/dpt``.

    ``text`` needs ``tokenizer``; ``dpt`` takes the depth, normals and segmentation files;
    ``variant`` (a size name) gives the attention heads when the width is ambiguous. The
    values are checked as :class:`ConvertOptions` (``UsageError``). Nothing is written unless
    every input converts.
    """
    options = ConvertOptions(Path(vision), Path(output), text, tokenizer, tuple(dpt), variant,
                             overwrite)
    _check_targets(options)
    dpt, output = list(options.dpt), options.output
    vision_arrays = read_npz(vision)
    text_arrays = read_npz(text) if text is not None else None
    shape = infer_shape(vision_arrays, text_arrays, variant)
    transformers.logging.disable_progress_bar()
    tower = _Vision(vision, vision_arrays, vision_rules(vision_arrays, shape.vision_layers))
    staged = []
    if text_arrays is not None:
        staged.append(_text_model(tower, shape, text, text_arrays, tokenizer))
    if dpt:
        staged.append(_dpt_model(tower, shape, dpt))
    _write(output, staged)
    names = {item.name for item in staged}
    return Converted(shape, output / "text" if "text" in names else None,
                     output / "dpt" if "dpt" in names else None)
