# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Frames and outputs as arrays and bytes (numpy and OpenCV; no torch, no ROS).

Image decoding and encoding (``imaging``), CDR serialisation of the large messages (``cdr``),
output topic payloads and point clouds (``outputs``), camera calibration (``camera_info``).
"""
