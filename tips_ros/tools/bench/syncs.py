# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Counting the host waits (device -> host synchronisations) of one engine call."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from tips_ros.engine import Engine


class HostSyncCounter(TorchFunctionMode):
    """Counts the tensor calls that make the host wait for a device's queued work.

    Counted: device -> host reads (``.cpu()``, ``.item()``, ``.tolist()``, a tensor used as a
    Python bool or number, ``.to("cpu")`` of a device tensor) and ops whose output size
    depends on the data (``nonzero``, ``argwhere``, ``masked_select``, ``unique``, indexing
    with a boolean mask). These are the same calls whatever the device, so a run on the CPU
    counts what a CUDA run would wait for; explicit synchronisations are counted by the
    engine itself (``EngineStats.host_syncs``). ``calls`` holds each counted call's name.
    """

    SYNCING = frozenset({"cpu", "item", "tolist", "__bool__", "__int__", "__float__",
                         "nonzero", "argwhere", "masked_select", "unique"})

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if self._waits(getattr(func, "__name__", ""), args, kwargs):
            self.calls.append(func.__name__)
        return func(*args, **kwargs)

    def _waits(self, name: str, args: tuple, kwargs: dict[str, Any]) -> bool:
        """Tell whether the call ``name(*args, **kwargs)`` makes the host wait for the device."""
        if name in self.SYNCING:
            return True
        if name in ("__getitem__", "__setitem__"):  # indexing with a boolean mask
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
        if name == "to" and isinstance(args[0], torch.Tensor) and args[0].device.type != "cpu":
            targets = [*args[1:], kwargs.get("device")]
            return any(str(t.device if isinstance(t, torch.Tensor) else t) == "cpu"
                       for t in targets)
        return False


def host_syncs_per_batch(engine: Engine, frames: list[np.ndarray],
                         heads: set[str]) -> dict[str, int]:
    """Count the host waits in one ``engine.infer(frames, heads)`` call.

    ``tensor_calls`` (counted by :class:`HostSyncCounter`), ``explicit`` (the engine's own
    synchronisations) and ``total``.
    """
    before = engine.stats.host_syncs
    with HostSyncCounter() as counter:
        engine.infer(frames, heads)
    explicit = engine.stats.host_syncs - before
    return {"tensor_calls": len(counter.calls), "explicit": explicit,
            "total": len(counter.calls) + explicit}
