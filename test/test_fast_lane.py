# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The fast lane's guard (``test/conftest.py``): an unmarked test that starts a process fails.

A pytest run in its own process on three small tests with this repository's conftest: one
starts ``true`` without the ``slow`` marker (it must fail, naming the program), one starts it
with the marker and one starts nothing (both pass).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = """
import subprocess

import pytest


def test_starts_a_process_unmarked():
    subprocess.run(["true"], check=True)


@pytest.mark.slow
def test_starts_a_process_marked():
    subprocess.run(["true"], check=True)


def test_starts_nothing():
    assert sum(range(4)) == 6
"""


@pytest.mark.slow
def test_unmarked_test_that_starts_a_process_fails(tmp_path: Path) -> None:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_guarded.py").write_text(TESTS)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
         "-o", "markers=slow: starts a process", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "1 failed, 2 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
    assert ("test_starts_a_process_unmarked starts a process in its call (['true']); "
            "mark it @pytest.mark.slow") in run.stdout, run.stdout[-3000:]
