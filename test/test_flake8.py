# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Run ament_flake8, the linter ``package.xml`` declares, on every Python file we ship.

The configuration is this package's ``setup.cfg`` [flake8]: the ROS 2 plugin set, lines <= 99,
double quotes, pep8 import groups, pep257 docstrings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ament_flake8.main import main_with_errors

REPO = Path(__file__).resolve().parents[1]
#: what is checked (everything Python in the repository that is ours)
PATHS = ("tips_ros", "test", "launch", "bench", "setup.py")


@pytest.mark.slow
@pytest.mark.flake8
@pytest.mark.linter
def test_flake8() -> None:
    """No flake8 error in PATHS."""
    rc, errors = main_with_errors(
        argv=["--config", str(REPO / "setup.cfg"), *(str(REPO / p) for p in PATHS)])
    assert rc == 0, f"{len(errors)} flake8 errors:\n" + "\n".join(errors[:50])
