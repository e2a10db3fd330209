# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The authors' SentencePiece ``tokenizer.model`` -> ``Tipsv2Tokenizer``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import Tipsv2Tokenizer

from tips_ros.errors import ConversionError, UsageError

#: text ids are padded/truncated to this many tokens, as in the authors' tokenizer
MAX_TOKENS = 64
#: ``TrainerSpec.model_type`` of a BPE SentencePiece model
BPE_MODEL_TYPE = 2


def _read_proto(path: Path) -> Any:
    """Return the parsed SentencePiece ``ModelProto`` of ``path``."""
    try:
        from google.protobuf.message import DecodeError
        from transformers.convert_slow_tokenizer import SentencePieceExtractor

        return SentencePieceExtractor(str(path)).proto
    except ImportError as err:
        raise UsageError(
            "converting tokenizer.model needs sentencepiece and protobuf: "
            "pip install 'tips_ros[convert]'"
        ) from err
    except (DecodeError, OSError) as err:
        raise ConversionError(f"'{path}' is not a SentencePiece model ({err})") from err


def convert_tokenizer(path: str | Path) -> Tipsv2Tokenizer:
    """Return a ``Tipsv2Tokenizer`` giving the ids of the SentencePiece BPE model ``path``.

    The conversion is transformers' own (``SentencePieceExtractor`` reads the model with
    ``protobuf``; pieces, merges by piece order, the model's NFKC normaliser), as
    ``Tipsv2Tokenizer.from_pretrained`` does for a ``tokenizer.model``. Like the authors'
    tokenizer, text is lower-cased and ``<pad>``/``<unk>`` written in a prompt are plain text.
    Needs the ``convert`` extra (``sentencepiece``, ``protobuf``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file '{path}' does not exist")
    proto = _read_proto(path)
    if not proto.pieces or proto.trainer_spec.model_type != BPE_MODEL_TYPE:
        raise ConversionError(
            f"'{path}' is not a BPE SentencePiece model; Tipsv2Tokenizer is BPE only"
        )
    if not (proto.normalizer_spec.add_dummy_prefix
            and proto.normalizer_spec.remove_extra_whitespaces):
        raise ConversionError(
            f"'{path}' disables the dummy prefix or whitespace folding, which Tipsv2Tokenizer "
            "always applies"
        )
    if proto.pieces[0].piece != "<pad>":
        raise ConversionError(f"'{path}' does not have <pad> as id 0, as TIPS requires")
    fields = Tipsv2Tokenizer.convert_to_native_format(vocab_file=str(path))
    fields.pop("vocab_file")  # the result is self-contained (tokenizer.json)
    return Tipsv2Tokenizer(**fields, model_max_length=MAX_TOKENS, split_special_tokens=True)
