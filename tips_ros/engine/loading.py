# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Safe, explicit loading of TIPSv2 checkpoints from a local directory or a hub id.

Rules (see README "Safe loading"):

* weights load from ``safetensors`` only, unless the caller opts in with ``allow_pickle``;
* ``trust_remote_code`` is never set, so no Python file in a model directory is executed;
* a reference is used exactly as given (a parameter or a command-line argument): an existing
  directory is loaded from disk, anything else is treated as a Hugging Face hub id, tried first
  from the local cache and then downloaded once;
* a model loads whole or not at all: a tensor the model has but the checkpoint lacks (it would
  run with random values), one the checkpoint has but the model does not use, one of another
  shape, and (for the DPT model) a missing or placeholder (``LABEL_k``) label map are an error.
  A head-only DPT checkpoint (the TIPSv2 hub repos before their July 2026 conversion) is named
  as such. transformers' load report (its table of the same findings, many lines on stderr)
  is replaced by that sentence; its other warnings are left on.

Every failure becomes a :class:`ModelLoadError` whose message is one sentence that names the
reference and says what to do, so command-line tools and the node can print it as is.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection
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
#: transformers' names for classes whose config has no ``id2label`` (``LABEL_0``, ...).
_PLACEHOLDER_LABEL = re.compile(r"^LABEL_\d+$")
#: Parameter prefix of the DPT model's backbone (missing whole: a head-only checkpoint).
BACKBONE_PREFIX = "backbone."
#: How many tensor names one error message lists.
NAMES_SHOWN = 3


def _looks_like_path(ref: str) -> bool:
    """Tell whether ``ref`` is a path: anything without the shape of a hub id (``owner/name``)."""
    return not _HUB_ID.match(ref)


def load_pretrained(cls: type[T], ref: str, *, allow_pickle: bool = False,
                    labelled: bool = False, unused: Collection[str] = (), **kwargs: Any) -> T:
    """Load ``cls.from_pretrained(ref)`` under the safe-loading rules, raising ModelLoadError.

    ``ref`` is a local directory or a hub id (``owner/name``). A model must load whole (see the
    module docstring); ``labelled``: its config must name its classes (``id2label``);
    ``unused``: checkpoint tensors the class leaves out by design (e.g. the image-text model's
    ``temperature`` when only its text tower is loaded). Extra keyword arguments go to
    ``from_pretrained`` (e.g. ``torch_dtype``).
    """
    kwargs = dict(kwargs, trust_remote_code=False)
    if hasattr(cls, "base_model_prefix"):  # models, not tokenizers
        kwargs.update(use_safetensors=None if allow_pickle else True, output_loading_info=True,
                      ignore_mismatched_sizes=True)  # reported by _check_whole instead
    path = Path(ref).expanduser()
    if path.is_dir():
        if "use_safetensors" in kwargs and not (path / "config.json").is_file():
            raise ModelLoadError(f"model directory '{ref}' is incomplete: it has no config.json")
        return _checked(_call(cls, str(path), ref, kwargs), ref, labelled, unused)
    if path.exists():
        raise ModelLoadError(f"model path '{ref}' is a file, expected a model directory")
    if _looks_like_path(ref):
        raise ModelLoadError(
            f"model directory '{ref}' does not exist; " + MAKE_TEST_MODEL_HINT.format(ref=ref)
        )
    try:  # the cache first, so a downloaded model loads without touching the network
        loaded = _call(cls, ref, ref, dict(kwargs, local_files_only=True))
    except ModelLoadError:
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
            raise ModelUnavailableError(
                f"model '{ref}' is not in the local cache and HF_HUB_OFFLINE is set; "
                + MAKE_TEST_MODEL_HINT.format(ref=ref)
            ) from None
        loaded = _call(cls, ref, ref, kwargs)
    return _checked(loaded, ref, labelled, unused)


class _WithoutLoadReport(logging.Filter):
    """Drop transformers' load report: :func:`_checked` turns its findings into the error."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 (logging's name)
        """Return whether ``record`` is anything but the load report."""
        return "LOAD REPORT" not in record.getMessage()


#: The loggers transformers writes its load report to (5.17 and 5.25).
_REPORT_LOGGERS = ("transformers.modeling_utils", "transformers.utils.loading_report")


def _call(cls: type[T], source: str, ref: str, kwargs: dict[str, Any]) -> Any:
    """``cls.from_pretrained``; a model comes with its loading report: ``(model, info)``."""
    transformers.logging.disable_progress_bar()
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    without_report = _WithoutLoadReport()
    for name in _REPORT_LOGGERS:
        logging.getLogger(name).addFilter(without_report)
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
        for name in _REPORT_LOGGERS:
            logging.getLogger(name).removeFilter(without_report)


def _checked(loaded: Any, ref: str, labelled: bool, unused: Collection[str]) -> Any:
    """Return the model (or tokenizer) of ``loaded`` if it is whole, else raise ModelLoadError."""
    if not isinstance(loaded, tuple):  # a tokenizer: no weights
        return loaded
    model, info = loaded
    problems = _label_problems(model.config) if labelled else []
    backbone = {name for name in model.state_dict() if name.startswith(BACKBONE_PREFIX)}
    problems += _weight_problems(info, set(unused), backbone)
    if problems:
        raise ModelLoadError(f"model '{ref}' cannot be used as {type(model).__name__}: "
                             + "; ".join(problems))
    return model


def _label_problems(config: Any) -> list[str]:
    """Return what is wrong with the class names of ``config`` (nothing: ``[]``)."""
    names = [config.id2label.get(i, "") for i in range(config.num_labels)]
    if any(_PLACEHOLDER_LABEL.match(name) for name in names) or not all(names):
        return ["its config.json has no label map (id2label with the segmentation class "
                "names; placeholder LABEL_k names are not one)"]
    return []


def _weight_problems(info: dict[str, Any], unused: set[str], backbone: set[str]) -> list[str]:
    """Return what transformers' loading report ``info`` says is missing, extra or misshapen.

    ``unused``: checkpoint tensors to accept unused; ``backbone``: the model's backbone
    tensors (all of them missing: a head-only checkpoint).
    """
    missing = sorted(info["missing_keys"])
    unexpected = sorted(set(info["unexpected_keys"]) - unused)
    mismatched = sorted(info["mismatched_keys"])
    problems = []
    if backbone and backbone <= set(missing):
        problems.append(f"the checkpoint has no backbone weights ({_count(missing)} missing: "
                        "a head-only DPT checkpoint, as the TIPSv2 hub snapshots before July "
                        "2026 were; download the current snapshot)")
    elif missing:
        problems.append(f"{_count(missing)} missing from the checkpoint ({_names(missing)})")
    if unexpected:
        problems.append(f"{_count(unexpected)} in the checkpoint the model does not have "
                        f"({_names(unexpected)})")
    if mismatched:
        problems.append(f"{_count(mismatched)} of another shape in the checkpoint "
                        f"({_names(mismatched)})")
    return problems


def _count(names: list[Any]) -> str:
    return f"{len(names)} tensor{'s' if len(names) != 1 else ''}"


def _names(names: list[Any]) -> str:
    """Return the first :data:`NAMES_SHOWN` names (mismatches: ``(name, ckpt, model shape)``)."""
    shown = [name if isinstance(name, str) else
             f"{name[0]}: {tuple(name[1])} there, {tuple(name[2])} in the model"
             for name in names[:NAMES_SHOWN]]
    return ", ".join(shown) + (", ..." if len(names) > NAMES_SHOWN else "")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def share_files(folder: Path) -> None:
    """Give the files under ``folder`` the modes the user's umask allows (after saving a model).

    ``save_pretrained`` writes weights with mode 0600 (readable by the owner only); then
    another user (a node run under a service account) could not load them. Files become
    ``0666 & ~umask``, folders ``0777 & ~umask`` (with umask 022: 0644 and 0755).
    """
    umask = os.umask(0)
    os.umask(umask)
    for path in [Path(folder), *Path(folder).rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
