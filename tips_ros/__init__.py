# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""tips_ros: TIPSv2 dense perception (depth, normals, segmentation, text heatmaps) for ROS 2.

Subpackages, lowest layer first (the import rules are checked by ``lint-imports``, see
``.importlinter``):

- ``tips_ros.engine``: the model path (torch, transformers; no ROS, no bags);
- ``tips_ros.io``: frames and outputs as bytes and arrays (image decoding, CDR, payloads);
- ``tips_ros.offline``: rosbag2 replay, metrics, evaluation, the demo;
- ``tips_ros.ros``: the ROS 2 node (rclpy); nothing else imports it;
- ``tips_ros.tools``: benchmark and checkpoint conversion;
- ``tips_ros.cli``: the ``tips-ros`` command line (flags -> typed options -> the functions).

The public API below is imported lazily, so ``import tips_ros`` loads neither torch nor rclpy.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first access)
_PUBLIC = {
    "Engine": "tips_ros.engine.engine",
    "EngineConfig": "tips_ros.engine.config",
    "Prediction": "tips_ros.engine.prediction",
    "replay": "tips_ros.offline.replay",
    "ReplayOptions": "tips_ros.offline.options",
    "RunOptions": "tips_ros.offline.options",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tips_ros' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
