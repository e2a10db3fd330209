# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Check the package layout rules of the README's "Layout" section on the real tree.

The import contracts in ``.importlinter`` (layers, nothing imports the ROS layer, no ROS 2
below it, the engine reads no bags, no cycles) hold: ``lint-imports`` (import-linter) on the
package. Modules are sized by what they own, not by a line count: the README describes each
subpackage's concern and ``test/test_docs.py`` keeps that description complete.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_import_contracts_hold() -> None:
    """``lint-imports`` exits 0: every contract in .importlinter is kept."""
    run = subprocess.run(
        [sys.executable, "-c",
         "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='.importlinter', no_cache=True))"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
