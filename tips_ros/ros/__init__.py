# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 layer (rclpy): the lifecycle node and its parts; nothing else imports it.

``node`` is the lifecycle shell; ``cameras`` (inputs, input QoS), ``scheduling`` (keep-latest
slots, worker thread), ``frame_path`` (decode -> engine -> publish), ``publishers`` (output
topics), ``parameters``, ``qos``, ``diagnostics`` and ``messages`` are its parts;
``startup`` is the ``tips_node`` entry point.
"""
