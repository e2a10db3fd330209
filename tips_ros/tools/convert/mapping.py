# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Applying the key tables: the rules of a checkpoint, and state dicts in either direction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import torch

from tips_ros.errors import ConversionError
from tips_ros.tools.convert.tables import (
    DPT_LAYERS, DptFile, DptLayer, rule, Rule, TEXT_BLOCK_KEYS, TEXT_KEYS, to_ours, to_theirs,
    VISION_BLOCK_KEYS, VISION_KEYS, VISION_MLP_KEYS, VISION_SWIGLU_KEYS,
)


def _expand(rules: Iterable[Rule], **fields: object) -> list[Rule]:
    """Fill the ``{i}`` (block index) placeholders of the rules."""
    return [
        Rule(r.theirs.format(**fields), tuple(o.format(**fields) for o in r.ours), r.layout,
             r.optional)
        for r in rules
    ]


def block_count(keys: Iterable[str], pattern: str) -> int:
    """Return the number of blocks: one more than the largest index ``pattern`` captures."""
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def vision_rules(keys: Iterable[str], layers: int) -> list[Rule]:
    """Return the rules of a vision tower with ``layers`` blocks; SwiGLU if ``keys`` have it."""
    swiglu = any(".mlp.w12." in k for k in keys)
    per_block = VISION_BLOCK_KEYS + (VISION_SWIGLU_KEYS if swiglu else VISION_MLP_KEYS)
    return VISION_KEYS + [r for i in range(layers) for r in _expand(per_block, i=i)]


def text_rules(layers: int) -> list[Rule]:
    """Return the rules of a text tower with ``layers`` blocks."""
    return TEXT_KEYS + [r for i in range(layers) for r in _expand(TEXT_BLOCK_KEYS, i=i)]


def dpt_rules(dpt: DptFile) -> list[Rule]:
    """Return the rules from ``dpt``'s names to the Hugging Face ``{task}_neck``/``_decoder``."""
    sep, weight = ("/", "kernel") if dpt.flax else (".", "weight")
    layers = [*DPT_LAYERS, DptLayer("", "", "{task}_decoder.head", "dense")]
    rules = []
    for layer in layers:
        body_name = layer.scenic if dpt.flax else layer.torch
        theirs = dpt.body + body_name if layer.scenic else dpt.head
        ours = layer.ours.format(task=dpt.task)
        rules.append(rule(f"{theirs}{sep}{weight}", f"{ours}.weight",
                          layout=layer.layout if dpt.flax else "same"))
        if layer.bias:
            rules.append(rule(f"{theirs}{sep}bias", f"{ours}.bias"))
    return rules


def _short(items: list[str], limit: int = 8) -> str:
    """Return the first ``limit`` items, comma-separated, and how many more there are."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _split(array: np.ndarray, rule_: Rule,
           shapes: list[tuple[int, ...]]) -> list[np.ndarray] | None:
    """Split the authors' (torch-layout) ``array`` into the rule's parts, or None if it can't.

    ``shapes`` are the Hugging Face shapes of the parts (dim 0 concatenation).
    """
    count = len(rule_.ours)
    if not array.ndim or array.shape[0] % count:
        return None
    parts = np.split(array, count, axis=0)
    return parts if all(p.shape == s for p, s in zip(parts, shapes)) else None


def map_to_ours(
    theirs: Mapping[str, np.ndarray], rules: list[Rule], expected: Mapping[str, torch.Size],
    what: str, prefix: str = "", ignored: re.Pattern[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Apply ``rules`` to the authors' tensors; one :class:`ConversionError` lists every problem.

    ``expected`` holds the target model's shapes; its keys are ``prefix`` + the table's names.
    ``what`` names the file in the error; keys matching ``ignored`` are not weights.
    """
    out: dict[str, torch.Tensor] = {}
    known = {r.theirs for r in rules}
    unknown = sorted(k for k in theirs if k not in known and not (ignored and ignored.match(k)))
    missing = sorted(r.theirs for r in rules if r.theirs not in theirs and not r.optional)
    bad: list[str] = []
    for rule_ in (r for r in rules if r.theirs in theirs):
        array = np.asarray(theirs[rule_.theirs])
        shapes = [tuple(expected.get(prefix + o, ())) for o in rule_.ours]
        parts = _split(to_ours(array, rule_.layout), rule_, shapes)
        if parts is None:
            want = "+".join(str(s) for s in shapes)
            bad.append(f"{rule_.theirs} {tuple(array.shape)} (expected {want})")
            continue
        for name, part in zip(rule_.ours, parts):
            out[prefix + name] = torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))
    problems = [f"{label} {_short(keys)}" for label, keys in
                (("unknown keys", unknown), ("missing keys", missing), ("wrong shapes", bad))
                if keys]
    if problems:
        raise ConversionError(f"{what} does not have the authors' layout: " + "; ".join(problems))
    return out


def map_to_theirs(ours: Mapping[str, torch.Tensor], rules: list[Rule]) -> dict[str, np.ndarray]:
    """Return the authors' arrays of a Hugging Face state dict (inverse of :func:`map_to_ours`)."""
    return {
        r.theirs: np.ascontiguousarray(to_theirs(
            np.concatenate([ours[o].detach().float().numpy() for o in r.ours], axis=0), r.layout))
        for r in rules
    }
