# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Developer tools: the benchmark and the TIPS authors' checkpoint converter."""
