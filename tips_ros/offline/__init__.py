# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation: rosbag2 reading and writing, replay, metrics, Ray evaluation, the demo
(no ROS install needed)."""
