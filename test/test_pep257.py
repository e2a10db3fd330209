# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Run ament_pep257, the docstring linter ``package.xml`` declares, with the PEP 257 rules.

The convention is ``pep257`` (summary line ending with a period, a blank line before the
description, imperative mood) rather than ament's default, which also wants the summary on the
second line (D213); missing docstrings (D100-D107) are not errors, as in ament's default.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ament_pep257.main import main

REPO = Path(__file__).resolve().parents[1]
#: what is checked (everything Python in the repository that is ours)
PATHS = ("tips_ros", "test", "launch", "bench", "setup.py")
MISSING_DOCSTRINGS = ["D100", "D101", "D102", "D103", "D104", "D105", "D106", "D107"]


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257() -> None:
    """No PEP 257 docstring error in PATHS."""
    rc = main(argv=["--convention", "pep257", "--add-ignore", *MISSING_DOCSTRINGS, "--",
                    *(str(REPO / p) for p in PATHS)])
    assert rc == 0, "docstring errors (listed above in the captured output)"
