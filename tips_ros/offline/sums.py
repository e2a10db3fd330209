# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Exactly mergeable sums: the base of the metric accumulators in ``tips_ros.offline.metrics``.

An accumulator is a dataclass whose fields are sums (ints, ``fractions.Fraction`` of float
sums, lists of ints, integer arrays) plus a few configuration fields. ``merge`` adds another
accumulator's sums exactly, in any order, and ``state``/``from_state`` carry it through JSON,
so per-bag results of different processes combine into exactly the one-process result.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import fields
from fractions import Fraction
from typing import Any, ClassVar, TypeVar

import numpy as np

_S = TypeVar("_S", bound="Sums")


class Sums:
    """Exact merging and a JSON-safe state for an accumulator dataclass.

    All its fields are sums (ints, ``Fraction``, lists of ints, integer arrays) except the
    configuration fields named in ``CONFIG``, which must agree for a merge.
    """

    CONFIG: ClassVar[tuple[str, ...]] = ()

    def merge(self: _S, other: _S) -> None:
        """Add ``other``'s sums to these (same configuration required)."""
        for item in fields(self):  # type: ignore[arg-type]
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if item.name in self.CONFIG:
                if mine != theirs:
                    raise ValueError(f"cannot merge accumulators with {item.name} {mine!r} "
                                     f"and {theirs!r}")
            elif isinstance(mine, list):
                setattr(self, item.name, [a + b for a, b in zip(mine, theirs)])
            else:
                setattr(self, item.name, mine + theirs)

    def state(self) -> dict[str, Any]:
        """Return a JSON-safe state of the sums.

        Ints as is, ``Fraction`` as ``"num/den"``, integer arrays as
        ``{"size": n, "int64_zlib_base64": ...}`` (little-endian int64, zlib, base64).
        """
        return {item.name: _encode(getattr(self, item.name))
                for item in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_state(cls: type[_S], state: dict[str, Any]) -> _S:
        """Return the accumulator a ``state()`` was taken of."""
        acc = cls(**{name: state[name] for name in cls.CONFIG})
        for item in fields(acc):  # type: ignore[arg-type]
            if item.name not in cls.CONFIG:
                setattr(acc, item.name, _decode(state[item.name], getattr(acc, item.name)))
        return acc


def _encode(value: Any) -> Any:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, np.ndarray):
        data = zlib.compress(value.astype("<i8").tobytes())
        return {"size": int(value.size), "int64_zlib_base64": base64.b64encode(data).decode()}
    return list(value) if isinstance(value, list) else value


def _decode(value: Any, template: Any) -> Any:
    if isinstance(template, Fraction):
        return Fraction(value)
    if isinstance(template, np.ndarray):
        data = zlib.decompress(base64.b64decode(value["int64_zlib_base64"]))
        array = np.frombuffer(data, dtype="<i8").astype(template.dtype)
        if array.size != value["size"]:
            raise ValueError(f"state array has {array.size} values, expected {value['size']}")
        return array
    return list(value) if isinstance(template, list) else value
