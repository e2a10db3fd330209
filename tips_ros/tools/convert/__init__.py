# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros convert``: the TIPS authors' checkpoint files -> Hugging Face-format directories.

The authors publish, for TIPSv1 and TIPSv2, a PyTorch vision encoder ``*_vision.npz`` (the
state dict of their DINOv2-style ``VisionTransformer``), a text encoder ``*_text.npz``, one
SentencePiece ``tokenizer.model``, and DPT heads, one file per task (depth, normals,
segmentation): Scenic/Flax zips of ``.npy`` leaves, or ``.npz`` state dicts of their PyTorch
``Decoder`` (see :func:`~.readers.read_dpt` for every layout their ``load_decoder_weights``
accepts). :func:`convert` writes

* ``OUT/text``: ``Tipsv2Model`` (vision + text towers) and ``Tipsv2Tokenizer``, like
  ``google/tipsv2-b14``;
* ``OUT/dpt``: ``Tipsv2DptForDensePrediction`` (the vision npz + the three DPT heads), like
  ``google/tipsv2-b14-dpt``;

both loadable with ``from_pretrained`` (safetensors), so the node takes them like a hub
download. The architecture comes from the tensor shapes (width, depth, FFN type, position grid
16x16 for v1 or 32x32 for v2); only the number of attention heads, which no shape shows, comes
from the size table in :mod:`tips_ros.engine.testmodel` (matched by width, or ``--variant``).

Every name mapping is in one table per file type (:mod:`.tables`: ``VISION_KEYS``,
``TEXT_KEYS``, ``DPT_LAYERS``), used in both directions (:mod:`.mapping`): :func:`convert`
reads the authors' layout and the ``export_*`` functions (:mod:`.writers`) write it from a
Hugging Face model. Unknown or missing keys and wrong shapes are all collected and reported in
one :class:`ConversionError` before anything is written. The tests check the tables against
files and outputs made by the authors' own code (``test/test_authors.py``), not only against
these writers.

The authors' DPT heads (like Scenic's) have no activation after the depth decoder's
``project`` conv, while ``transformers`` applies a ReLU there by default; converted DPT
checkpoints therefore set ``depth_decoder_activation="linear"`` (identity).

Modules: :mod:`.tables` and :mod:`.mapping` (names and layouts), :mod:`.readers` (files and
architecture), :mod:`.text_tokenizer`, :mod:`.converter` (:func:`convert` and
:class:`ConvertOptions`), :mod:`.writers`; the command is ``tips_ros.cli.convert``.
:class:`ConversionError` is in :mod:`tips_ros.errors` with the project's other user-facing
errors.
"""

from tips_ros.errors import ConversionError
from tips_ros.tools.convert.converter import (
    convert, Converted, ConvertOptions, IDENTITY_ACTIVATION,
)
from tips_ros.tools.convert.readers import infer_shape, read_dpt, read_npz
from tips_ros.tools.convert.text_tokenizer import convert_tokenizer, MAX_TOKENS
from tips_ros.tools.convert.writers import export_dpt, export_text, export_vision

__all__ = [
    "ConversionError", "ConvertOptions", "Converted", "IDENTITY_ACTIVATION", "MAX_TOKENS",
    "convert", "convert_tokenizer", "export_dpt", "export_text", "export_vision",
    "infer_shape", "read_dpt", "read_npz",
]
