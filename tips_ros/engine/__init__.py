# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The TIPSv2 model path: load, one backbone pass per batch, heads, post-processing.

Imports torch and transformers, never ROS or bag code. The public names below are imported
lazily, so ``tips_ros.engine.prediction`` (numpy only) stays light for the I/O layer.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it (imported on first access)
_PUBLIC = {
    "Engine": "tips_ros.engine.engine",
    "EngineConfig": "tips_ros.engine.config",
    "EngineStats": "tips_ros.engine.config",
    "ModelSpec": "tips_ros.engine.config",
    "Prediction": "tips_ros.engine.prediction",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tips_ros.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
