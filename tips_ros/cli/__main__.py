# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``python -m tips_ros.cli``: the ``tips-ros`` console script."""

import sys

from tips_ros.cli import main

sys.exit(main())
