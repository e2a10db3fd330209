# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Safe, explicit loading of TIPSv2 checkpoints from a local directory or a hub id.

Rules (see README "Safe loading"):

* weights load from ``safetensors`` only, unless the caller opts in with ``allow_pickle``;
* ``trust_remote_code`` is never set, so no Python file in a model directory is executed;
* a reference is used exactly as given (a parameter or a command-line argument): an existing
  directory is loaded from disk, anything else is treated as a Hugging Face hub id, tried first
  from the local cache and then downloaded once.

Every failure becomes a :class:`ModelLoadError` whose message is one sentence that names the
reference and says what to do, so command-line tools and the node can print it as is.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, TypeVar

import transformers

from tips_ros.errors import ModelLoadError, ModelUnavailableError  # re-exported: raised here

T = TypeVar("T")

MAKE_TEST_MODEL_HINT = (
    "run `tips-ros make-test-model DIR` for offline random weights, "
    "or download the model once with network access (`hf download {ref}`)"
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _looks_like_path(ref: str) -> bool:
    """Tell whether ``ref`` is a path: anything without the shape of a hub id (``owner/name``)."""
    return not _HUB_ID.match(ref)


def load_pretrained(cls: type[T], ref: str, *, allow_pickle: bool = False, **kwargs: Any) -> T:
    """Load ``cls.from_pretrained(ref)`` under the safe-loading rules, raising ModelLoadError.

    ``ref`` is a local directory or a hub id (``owner/name``). Extra keyword arguments go to
    ``from_pretrained`` (e.g. ``torch_dtype``).
    """
    kwargs = dict(kwargs, trust_remote_code=False)
    if hasattr(cls, "base_model_prefix"):  # models, not tokenizers
        kwargs["use_safetensors"] = None if allow_pickle else True
    path = Path(ref).expanduser()
    if path.is_dir():
        if "use_safetensors" in kwargs and not (path / "config.json").is_file():
            raise ModelLoadError(f"model directory '{ref}' is incomplete: it has no config.json")
        return _call(cls, str(path), ref, kwargs)
    if path.exists():
        raise ModelLoadError(f"model path '{ref}' is a file, expected a model directory")
    if _looks_like_path(ref):
        raise ModelLoadError(
            f"model directory '{ref}' does not exist; " + MAKE_TEST_MODEL_HINT.format(ref=ref)
        )
    try:  # the cache first, so a downloaded model loads without touching the network
        return _call(cls, ref, ref, dict(kwargs, local_files_only=True))
    except ModelLoadError:
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
            raise ModelUnavailableError(
                f"model '{ref}' is not in the local cache and HF_HUB_OFFLINE is set; "
                + MAKE_TEST_MODEL_HINT.format(ref=ref)
            ) from None
    return _call(cls, ref, ref, kwargs)


def _call(cls: type[T], source: str, ref: str, kwargs: dict[str, Any]) -> T:
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    try:
        return cls.from_pretrained(source, **kwargs)  # type: ignore[attr-defined]
    except OSError as err:
        if kwargs.get("local_files_only"):
            raise ModelUnavailableError(f"model '{ref}' is not cached") from err
        if Path(source).is_dir():
            raise ModelLoadError(
                f"model directory '{ref}' is incomplete or unreadable ({_first_line(err)}); "
                "safetensors weights and config.json are required"
            ) from err
        raise ModelUnavailableError(
            f"model '{ref}' could not be fetched from the Hugging Face hub; "
            + MAKE_TEST_MODEL_HINT.format(ref=ref)
        ) from err
    except Exception as err:  # corrupt weights: library-specific errors (SafetensorError, ...)
        raise ModelLoadError(
            f"model '{ref}' could not be loaded as {cls.__name__}; the files may be corrupt "
            f"({_first_line(err)})"
        ) from err
    finally:
        transformers.logging.set_verbosity(previous)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
