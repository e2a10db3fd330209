# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 layer: the lifecycle node, its parameters, QoS, scheduling, diagnostics and messages
(rclpy). Nothing else in the package imports it."""
