# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Process entry of ``tips_node``: exit cleanly on a signal while the node still imports.

Importing the node (torch, transformers) takes seconds. ``ros2 launch`` stopped in that
window sends SIGINT (then SIGTERM): with Python's default handlers the process would die with
a ``KeyboardInterrupt`` traceback or signal status, which launch reports as a crash. Here
both exit 0 until :func:`tips_ros.ros.node.main` takes over, whose rclpy handlers do the same
once the node exists.
"""

from __future__ import annotations

import signal
import sys


def _exit_cleanly(signum: int, _frame: object) -> None:
    sys.exit(0)


def main() -> int:
    """``tips_node``: install the early signal handlers, then import and run the node."""
    previous = {sig: signal.signal(sig, _exit_cleanly) for sig in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(sig) is not signal.SIG_IGN}  # keep a parent's "ignore"
    from tips_ros.ros import node

    for sig, handler in previous.items():
        signal.signal(sig, handler)
    return node.main()


if __name__ == "__main__":
    sys.exit(main())
