# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Run one launch file through ``launch.LaunchService``, as ``ros2 launch`` does.

    python test/launch_runner.py PATH/TO/FILE.launch.py [name:=value ...]

The launch file is included with ``IncludeLaunchDescription(PythonLaunchDescriptionSource(...))``
and the ``name:=value`` pairs as its launch arguments; the exit code is the LaunchService's.
It runs non-interactively, as ``ros2 launch --noninteractive`` does: SIGINT to this process
alone (not to its whole process group, as a terminal's Ctrl-C) makes launch forward SIGINT to
the processes it started. ``test/test_launch.py`` runs this in its own process, so the signal
is real.

``launch`` and ``launch_ros`` come from a system ROS 2 when one is importable, otherwise from
their unmodified sources in ``../shared/vendor`` (no registry here ships them).
"""

from __future__ import annotations

import signal
import sys
import types
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "shared" / "vendor"


def _import_launch_packages() -> None:
    """Make ``launch`` and ``launch_ros`` importable (see the module docstring)."""
    try:
        import launch_ros  # noqa: F401  (a system ROS 2 provides it)
    except ImportError:
        if not VENDOR.is_dir():
            raise SystemExit(f"launch_ros is not installed and {VENDOR} does not exist")
        sys.path.insert(0, str(VENDOR))
    try:
        import composition_interfaces.srv  # noqa: F401
    except ImportError:
        # Stand-in: launch_ros.actions imports composition_interfaces.srv at import time and
        # names LoadNode.Request in annotations (for composable nodes); that message package
        # is not installable from the registries here, and the project's launch files never
        # load composable nodes, so nothing ever builds a request.
        package = types.ModuleType("composition_interfaces")
        package.__path__ = []
        package.srv = types.ModuleType("composition_interfaces.srv")
        package.srv.LoadNode = types.SimpleNamespace(Request=None)
        sys.modules["composition_interfaces"] = package
        sys.modules["composition_interfaces.srv"] = package.srv


def main(argv: list[str]) -> int:
    """Include the launch file ``argv[0]`` with the launch arguments ``argv[1:]`` and run it."""
    if not argv:
        raise SystemExit(__doc__)
    _import_launch_packages()
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # A shell that ran the test suite in the background made its children ignore SIGINT;
        # the LaunchService only sees SIGINT through Python's default handler (as in a terminal).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    from launch import LaunchDescription, LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    arguments = [tuple(pair.split(":=", 1)) for pair in argv[1:]]
    if any(len(pair) != 2 for pair in arguments):
        raise SystemExit("launch arguments are name:=value pairs")
    service = LaunchService(argv=argv[1:], noninteractive=True)
    service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(argv[0]), launch_arguments=arguments)]))
    return service.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
