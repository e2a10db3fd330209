# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Developer tools: the benchmark, the TIPS authors' checkpoint converter, a camera stand-in.

:mod:`.bench` (``tips-ros bench``), :mod:`.convert` (``tips-ros convert``) and
:mod:`.camera_sim` (the camera process ``bench --e2e`` and the tests launch). They use the
engine's public API; ``bench --e2e`` and the camera stand-in are ROS 2 clients (rclpy), which
start ``tips_node`` as a program and never import the ROS layer (``tips_ros.ros``).
"""
