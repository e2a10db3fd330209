# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""QoS choices that connect and deliver by default.

* Inputs: reliability ``auto`` matches what the image publishers offer (reliable if they all
  offer reliable, else best effort), keep last 1; ``reliable``/``best_effort`` override it.
* Outputs: reliable, keep last 1, volatile; latched topics (label map, query list) are
  transient local so late subscribers get them.
* The node's process loads the shipped Fast DDS profile (``config/fastdds.xml``: a 32 MB
  shared-memory segment and 4 MB socket buffers) unless the user set
  ``FASTDDS_DEFAULT_PROFILES_FILE``, so best-effort consumers receive our large images.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
_POLICY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}


def stream_qos(reliability: str, depth: int = 1) -> QoSProfile:
    """Keep-last ``depth``, volatile, with ``reliable`` or ``best_effort`` reliability."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=_POLICY[reliability],
        durability=DurabilityPolicy.VOLATILE,
    )


def latched_qos() -> QoSProfile:
    """Reliable, transient local, keep last 1: late subscribers get the last message."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )


def offered_reliability(node: Node, topic: str) -> str | None:
    """Return the reliability that matches every publisher of ``topic``.

    ``reliable`` if every publisher offers reliable, ``best_effort`` if any offers best
    effort, None when there is no publisher yet.
    """
    infos = node.get_publishers_info_by_topic(topic)
    if not infos:
        return None
    if all(info.qos_profile.reliability == ReliabilityPolicy.RELIABLE for info in infos):
        return "reliable"
    return "best_effort"


def fastdds_profile_path() -> Path | None:
    """Find the shipped ``fastdds.xml``: colcon/pip install share dir, else the source tree."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("tips_ros")) / "config" / "fastdds.xml")
    except (ImportError, LookupError, ValueError, OSError):  # not in an ament prefix
        pass
    candidates.append(Path(sys.prefix) / "share" / "tips_ros" / "config" / "fastdds.xml")
    candidates.append(Path(__file__).resolve().parents[2] / "config" / "fastdds.xml")
    return next((path for path in candidates if path.is_file()), None)


def use_shipped_fastdds_profile() -> str | None:
    """Point Fast DDS at the shipped profile unless the user chose one; call before rclpy.init.

    Returns the profile path in effect (the user's or ours), or None if none was found.
    """
    if os.environ.get(PROFILE_ENV):
        return os.environ[PROFILE_ENV]
    path = fastdds_profile_path()
    if path is not None:
        os.environ[PROFILE_ENV] = str(path)
    return None if path is None else str(path)
