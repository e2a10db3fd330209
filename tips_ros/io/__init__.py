# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Frames and outputs as arrays and bytes: image decoding and encoding, CDR, output payloads,
camera calibration (numpy and OpenCV; no torch, no ROS)."""
